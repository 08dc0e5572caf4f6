import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { DOMParser } from '@xmldom/xmldom';
import samlify from 'samlify';

/**
 * XML that reaches samlify or Gatehouse's own SAML checks is first read by libxml2 (samlify's
 * schema validator, `@authenio/samlify-node-xmllint`, an Emscripten build of xmllint): a SAML
 * message must be valid against the SAML 2.0 protocol, assertion and XML-DSig schemas; IdP
 * metadata must be well-formed with an md:EntityDescriptor root. Every `<!DOCTYPE` and `<!ENTITY`
 * is refused before any parser sees it (OWASP XXE Prevention): libxml2 would otherwise expand
 * internal entities of a schema-valid document.
 *
 * The validator is a 4 MB asm.js program whose first run compiles for seconds, and every run is
 * synchronous: it runs on a worker thread of its own, so a login never stalls the event loop.
 */
export class XmlValidatorUnavailableError extends Error {}

/** Only an md:EntityDescriptor root is declared; what is inside is read (and checked) by idp-metadata.ts. */
const METADATA_ROOT_SCHEMA = `<?xml version="1.0" encoding="UTF-8"?>
<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" targetNamespace="urn:oasis:names:tc:SAML:2.0:metadata" elementFormDefault="qualified">
  <xs:element name="EntityDescriptor">
    <xs:complexType>
      <xs:sequence><xs:any namespace="##any" processContents="skip" minOccurs="0" maxOccurs="unbounded"/></xs:sequence>
      <xs:anyAttribute namespace="##any" processContents="skip"/>
    </xs:complexType>
  </xs:element>
</xs:schema>`;

const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
// Emscripten prints a line per run and the validator prints the document's errors: neither
// belongs on stdout/stderr (a SAML response carries personal data).
console.log = console.error = console.warn = () => {};
const saml = require(workerData.validator);
const xmllint = require(workerData.xmllint);
parentPort.on('message', async ({ id, kind, xml, schema }) => {
  try {
    if (kind === 'saml') {
      await saml.validate(xml);
      parentPort.postMessage({ id, ok: true });
    } else {
      const errors = xmllint.validateXML({ xml, schema }).errors;
      parentPort.postMessage({ id, ok: !errors, error: errors ? String(errors[0]) : undefined });
    }
  } catch {
    parentPort.postMessage({ id, ok: false });
  }
});
`;

/** First run included (an asm.js compile on a busy machine); past it the node answers 503. */
const VALIDATION_TIMEOUT_MS = 90_000;

type Answer = { id: number; ok: boolean; error?: string };
let worker: Worker | undefined;
let nextId = 0;
const waiting = new Map<number, { resolve: (a: Answer) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();

function failAll(error: Error) {
  for (const [id, w] of waiting) {
    clearTimeout(w.timer);
    w.reject(error);
    waiting.delete(id);
  }
}

function spawn(): Worker {
  const require = createRequire(import.meta.url);
  const w = new Worker(WORKER_SOURCE, {
    eval: true,
    execArgv: [],
    workerData: { validator: require.resolve('@authenio/samlify-node-xmllint'), xmllint: require.resolve('node-xmllint') },
  });
  w.on('message', (a: Answer) => {
    const entry = waiting.get(a.id);
    if (!entry) return;
    clearTimeout(entry.timer);
    waiting.delete(a.id);
    if (!waiting.size) w.unref();
    entry.resolve(a);
  });
  const lost = () => {
    if (worker === w) worker = undefined;
    failAll(new XmlValidatorUnavailableError('the XML validator stopped'));
  };
  w.on('error', lost);
  w.on('exit', lost);
  w.unref();
  return w;
}

function run(kind: 'saml' | 'xsd', xml: string, schema?: string): Promise<Answer> {
  worker ??= spawn();
  const w = worker;
  const id = ++nextId;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      waiting.delete(id);
      // A validator stuck on one document is replaced; the next document gets a fresh one.
      if (worker === w) worker = undefined;
      void w.terminate();
      reject(new XmlValidatorUnavailableError('the XML validator did not answer in time'));
    }, VALIDATION_TIMEOUT_MS);
    timer.unref();
    waiting.set(id, { resolve, reject, timer });
    w.ref();
    w.postMessage({ id, kind, xml, schema });
  });
}

/** Ends the validator thread (a later validation starts a new one). */
export async function stopXmlValidator() {
  const w = worker;
  worker = undefined;
  if (w) await w.terminate();
}

/** XML 1.0 §2.8 document type declarations and §4.2 entity declarations: never accepted. */
export function declarationProblem(xml: string): string | undefined {
  return /<!DOCTYPE|<!ENTITY/i.test(xml) ? 'a DOCTYPE or ENTITY declaration is not allowed' : undefined;
}

/** Documents that passed, by hash: samlify validates the same response again inside its flow. */
const passed = new Set<string>();
const PASSED_KEPT = 200;
const digest = (xml: string) => createHash('sha256').update(xml).digest('base64');

/** True when `xml` is a schema-valid SAML 2.0 protocol message without any DTD. */
export async function isValidSamlMessage(xml: string): Promise<boolean> {
  if (declarationProblem(xml)) return false;
  const key = digest(xml);
  if (passed.has(key)) return true;
  const { ok } = await run('saml', xml);
  if (ok) {
    if (passed.size >= PASSED_KEPT) passed.delete(passed.values().next().value!);
    passed.add(key);
  }
  return ok;
}

/** Real IdP metadata has a few hundred elements at most; samlify's reading of more grows quadratically. */
const MAX_ELEMENTS = 2000;
const MAX_DESCRIPTOR_ELEMENTS = 300;

/** What is wrong with an IdP metadata document as XML, or undefined. */
export async function metadataXmlProblem(xml: string): Promise<string | undefined> {
  const declared = declarationProblem(xml);
  if (declared) return declared;
  const { ok, error } = await run('xsd', xml, METADATA_ROOT_SCHEMA);
  if (!ok) return `not well-formed XML or not an md:EntityDescriptor (${(error ?? 'unreadable').replace(/^file_\d+\.xml:\d+:\s*/, '').slice(0, 200)})`;
  const doc = new DOMParser().parseFromString(xml, 'text/xml');
  if (doc.getElementsByTagName('*').length > MAX_ELEMENTS) return `it has more than ${MAX_ELEMENTS} elements`;
  for (const role of ['IDPSSODescriptor', 'SPSSODescriptor']) {
    const descriptors = doc.getElementsByTagNameNS('urn:oasis:names:tc:SAML:2.0:metadata', role);
    for (let i = 0; i < descriptors.length; i++) {
      if (descriptors[i].getElementsByTagName('*').length > MAX_DESCRIPTOR_ELEMENTS) return `a role descriptor has more than ${MAX_DESCRIPTOR_ELEMENTS} elements`;
    }
  }
  return undefined;
}

/** samlify runs every inbound message through this validator (its flows refuse without one). */
samlify.setSchemaValidator({
  validate: async (xml: string) => {
    if (await isValidSamlMessage(xml)) return 'SUCCESS_VALIDATE_XML';
    throw new Error('ERR_EXCEPTION_VALIDATE_XML');
  },
});
