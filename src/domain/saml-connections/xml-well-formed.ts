/**
 * Well-formedness of an XML document without a DTD, checked before samlify reads it: samlify's
 * parser (xmldom 0.8) only warns on a mismatched tag or an unquoted attribute and reads on, so
 * "what was understood" could differ from what the admin sent. Refusing every `<!DOCTYPE` and
 * `<!ENTITY` outright closes XXE and entity expansion (OWASP XXE Prevention) whatever a parser
 * downstream would do with them.
 */
const NAME = '[A-Za-z_][\\w.-]*(?::[A-Za-z_][\\w.-]*)?';
const START_TAG = new RegExp(`<(${NAME})((?:\\s+${NAME}\\s*=\\s*(?:"[^<"]*"|'[^<']*'))*)\\s*(/?)>`, 'y');
const END_TAG = new RegExp(`</(${NAME})\\s*>`, 'y');
const ATTRIBUTE = new RegExp(`\\s+(${NAME})\\s*=\\s*(?:"[^<"]*"|'[^<']*')`, 'g');
/** Without a DTD only the five predefined entities and character references exist (XML 1.0 §4.6). */
const BAD_AMPERSAND = /&(?!(?:lt|gt|amp|quot|apos|#[0-9]+|#x[0-9a-fA-F]+);)/;
/** XML 1.0 §2.2: C0 controls other than tab, newline and carriage return are not characters, nor are lone surrogates. */
const NOT_A_CHAR = /[\x00-\x08\x0B\x0C\x0E-\x1F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const CHAR_REF = /&#(?:([0-9]+)|x([0-9a-fA-F]+));/g;
/**
 * samlify's reading of a descriptor costs time that grows with the square of its elements: real IdP
 * metadata has a few hundred elements at most, so more is refused before it can stall the node.
 */
const MAX_ELEMENTS = 2000;
const MAX_DESCRIPTOR_ELEMENTS = 300;

/** XML 1.0 §4.1 (Legal Character): a character reference must name a character XML allows. */
function badCharRef(text: string) {
  for (const m of text.matchAll(CHAR_REF)) {
    const code = m[1] !== undefined ? Number(m[1]) : parseInt(m[2], 16);
    const legal = code === 0x9 || code === 0xA || code === 0xD || (code >= 0x20 && code <= 0xD7FF) || (code >= 0xE000 && code <= 0xFFFD) || (code >= 0x10000 && code <= 0x10FFFF);
    if (!legal) return true;
  }
  return false;
}

/** Says what is wrong with the document, or undefined when it is well-formed and DTD-free. */
export function xmlProblem(input: string): string | undefined {
  const xml = input.replace(/^\uFEFF/, '');
  if (/<!DOCTYPE|<!ENTITY/i.test(xml)) return 'a DOCTYPE or ENTITY declaration is not allowed';
  if (NOT_A_CHAR.test(xml)) return 'it contains a character XML does not allow';
  if (badCharRef(xml)) return 'a character reference names a character XML does not allow';
  const open: string[] = [];
  let rootSeen = false;
  let elements = 0;
  let descriptorElements = 0;
  let i = 0;
  while (i < xml.length) {
    const lt = xml.indexOf('<', i);
    const text = xml.slice(i, lt === -1 ? xml.length : lt);
    if (!open.length && text.trim()) return 'there is text outside the root element';
    if (BAD_AMPERSAND.test(text)) return 'it uses an undefined entity or a bare "&"';
    if (lt === -1) break;
    i = lt;
    const skip = (opener: string, closer: string) => {
      const end = xml.indexOf(closer, i + opener.length);
      return end === -1 ? -1 : end + closer.length;
    };
    if (xml.startsWith('<?', i)) {
      // The XML declaration may only open the document (XML 1.0 §2.8).
      if (/^<\?xml[\s?]/i.test(xml.slice(i, i + 6)) && xml.slice(0, i).trim() !== '') return 'the XML declaration is not at the start';
      if ((i = skip('<?', '?>')) === -1) return 'a processing instruction is not closed';
    } else if (xml.startsWith('<!--', i)) {
      if ((i = skip('<!--', '-->')) === -1) return 'a comment is not closed';
    } else if (xml.startsWith('<![CDATA[', i)) {
      if (!open.length) return 'there is a CDATA section outside the root element';
      if ((i = skip('<![CDATA[', ']]>')) === -1) return 'a CDATA section is not closed';
    } else if (xml.startsWith('<!', i)) {
      return 'a markup declaration is not allowed';
    } else if (xml.startsWith('</', i)) {
      END_TAG.lastIndex = i;
      const end = END_TAG.exec(xml);
      if (!end) return 'an end tag is malformed';
      const expected = open.pop();
      if (end[1] !== expected) return `the end tag </${end[1]}> does not match ${expected ? `<${expected}>` : 'any start tag'}`;
      i = END_TAG.lastIndex;
    } else {
      START_TAG.lastIndex = i;
      const start = START_TAG.exec(xml);
      if (!start) return 'a start tag is malformed';
      if (++elements > MAX_ELEMENTS) return `it has more than ${MAX_ELEMENTS} elements`;
      if (open.some((n) => n.endsWith('SSODescriptor')) && ++descriptorElements > MAX_DESCRIPTOR_ELEMENTS) {
        return `a role descriptor has more than ${MAX_DESCRIPTOR_ELEMENTS} elements`;
      }
      if (!open.length) {
        if (rootSeen) return 'there is more than one root element';
        rootSeen = true;
      }
      const names = [...start[2].matchAll(ATTRIBUTE)].map((m) => m[1]);
      if (new Set(names).size !== names.length) return `<${start[1]}> repeats an attribute`;
      if (BAD_AMPERSAND.test(start[2])) return 'it uses an undefined entity or a bare "&"';
      if (!start[3]) open.push(start[1]);
      i = START_TAG.lastIndex;
    }
  }
  if (open.length) return `the element <${open[open.length - 1]}> is not closed`;
  if (!rootSeen) return 'there is no root element';
  return undefined;
}
