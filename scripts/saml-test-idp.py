#!/usr/bin/env python3
"""A small SAML 2.0 identity provider for trying and testing Gatehouse's SAML connections.

It shares no code with samlify: Python's standard library builds the XML and reads Gatehouse's
SP metadata and AuthnRequests, and `xmlsec1 --sign` (libxmlsec1, Debian package `xmlsec1`) signs
the assertions; `openssl` checks the signature of a signed AuthnRequest. It is configured only
from Gatehouse's published SP metadata.

  serve    an IdP over HTTP: /metadata, /sso (HTTP-Redirect AuthnRequest, then a sign-in form),
           /idp-initiated?sp_metadata=URL (an unsolicited response);
           prints `listening http://127.0.0.1:PORT` once ready
  metadata prints the IdP metadata (--base URL of the IdP)
  respond  reads a JSON description of one Response on stdin, prints it signed (base64, or
           XML with "raw": true); used by Gatehouse's tests to build good and hostile responses

Not for production: it signs in whoever types an email into its form.
"""
import argparse
import base64
import html
import json
import os
import re
import subprocess
import sys
import tempfile
import urllib.parse
import urllib.request
import uuid
import zlib
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from xml.etree import ElementTree as ET

NS = {
    'md': 'urn:oasis:names:tc:SAML:2.0:metadata',
    'samlp': 'urn:oasis:names:tc:SAML:2.0:protocol',
    'saml': 'urn:oasis:names:tc:SAML:2.0:assertion',
    'ds': 'http://www.w3.org/2000/09/xmldsig#',
}
POST_BINDING = 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST'
REDIRECT_BINDING = 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect'
EMAIL_FORMAT = 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress'
PASSWORD_CONTEXT = 'urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport'
RSA_SHA256 = 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256'


def esc(value):
    return html.escape(str(value), quote=True)


def instant(offset_seconds=0):
    return (datetime.now(timezone.utc) + timedelta(seconds=offset_seconds)).strftime('%Y-%m-%dT%H:%M:%SZ')


def cert_body(cert_path):
    with open(cert_path) as f:
        return re.sub(r'-----[^-]+-----|\s', '', f.read())


def signature_template(reference_id):
    # Enveloped signature, exclusive c14n, RSA-SHA256 (SAML core §5.4); xmlsec1 fills the values
    # and the certificate.
    return (
        '<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo>'
        '<ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>'
        f'<ds:SignatureMethod Algorithm="{RSA_SHA256}"/>'
        f'<ds:Reference URI="#{reference_id}"><ds:Transforms>'
        '<ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/>'
        '<ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>'
        '</ds:Transforms><ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/>'
        '<ds:DigestValue></ds:DigestValue></ds:Reference></ds:SignedInfo>'
        '<ds:SignatureValue></ds:SignatureValue><ds:KeyInfo><ds:X509Data></ds:X509Data></ds:KeyInfo></ds:Signature>'
    )


def xmlsec_sign(xml, key, cert, node_xpath):
    with tempfile.TemporaryDirectory() as tmp:
        src, out = os.path.join(tmp, 'in.xml'), os.path.join(tmp, 'out.xml')
        with open(src, 'w') as f:
            f.write(xml)
        subprocess.run([
            'xmlsec1', '--sign', '--privkey-pem', f'{key},{cert}',
            '--id-attr:ID', 'urn:oasis:names:tc:SAML:2.0:protocol:Response',
            '--id-attr:ID', 'urn:oasis:names:tc:SAML:2.0:assertion:Assertion',
            '--node-xpath', node_xpath, '--output', out, src,
        ], check=True, capture_output=True)
        with open(out) as f:
            signed = f.read()
    return re.sub(r'^<\?xml[^>]*\?>\s*', '', signed)


def build_response(spec):
    """One samlp:Response with one saml:Assertion, signed as spec['sign'] says."""
    now = spec.get('now_offset', 0)
    idp = spec['idp_entity_id']
    acs = spec['acs_url']
    response_id = spec.get('response_id', f'_r{uuid.uuid4().hex}')
    assertion_id = spec.get('assertion_id', f'_a{uuid.uuid4().hex}')
    in_response_to = spec.get('in_response_to')
    irt = f' InResponseTo="{esc(in_response_to)}"' if in_response_to else ''
    destination = spec.get('destination', acs)
    dest = f' Destination="{esc(destination)}"' if destination else ''
    not_before = instant(now + spec.get('not_before', -60))
    not_on_or_after = instant(now + spec.get('not_on_or_after', 300))
    confirmation_ends = instant(now + spec.get('confirmation_not_on_or_after', spec.get('not_on_or_after', 300)))
    attributes = ''.join(
        f'<saml:Attribute Name="{esc(name)}" NameFormat="urn:oasis:names:tc:SAML:2.0:attrname-format:basic">'
        + ''.join(f'<saml:AttributeValue>{esc(v)}</saml:AttributeValue>' for v in (values if isinstance(values, list) else [values]))
        + '</saml:Attribute>'
        for name, values in spec.get('attributes', {}).items()
    )
    statement = f'<saml:AttributeStatement>{attributes}</saml:AttributeStatement>' if attributes else ''
    sign = spec.get('sign', 'assertion')
    key, cert = spec['key'], spec['cert']
    assertion = (
        f'<saml:Assertion xmlns:saml="{NS["saml"]}" ID="{assertion_id}" Version="2.0" IssueInstant="{instant(now)}">'
        f'<saml:Issuer>{esc(spec.get("issuer", idp))}</saml:Issuer>'
        + (signature_template(assertion_id) if sign in ('assertion', 'both') else '')
        + f'<saml:Subject><saml:NameID Format="{esc(spec.get("name_id_format", EMAIL_FORMAT))}">{esc(spec["name_id"])}</saml:NameID>'
        f'<saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer">'
        f'<saml:SubjectConfirmationData NotOnOrAfter="{confirmation_ends}" Recipient="{esc(spec.get("recipient", acs))}"{irt}/>'
        '</saml:SubjectConfirmation></saml:Subject>'
        f'<saml:Conditions NotBefore="{not_before}" NotOnOrAfter="{not_on_or_after}">'
        f'<saml:AudienceRestriction><saml:Audience>{esc(spec.get("audience", spec["sp_entity_id"]))}</saml:Audience></saml:AudienceRestriction>'
        '</saml:Conditions>'
        f'<saml:AuthnStatement AuthnInstant="{instant(now)}" SessionIndex="{assertion_id}">'
        f'<saml:AuthnContext><saml:AuthnContextClassRef>{esc(spec.get("authn_context", PASSWORD_CONTEXT))}</saml:AuthnContextClassRef></saml:AuthnContext>'
        '</saml:AuthnStatement>'
        f'{statement}</saml:Assertion>'
    )
    response = (
        f'<samlp:Response xmlns:samlp="{NS["samlp"]}" xmlns:saml="{NS["saml"]}" ID="{response_id}" Version="2.0" IssueInstant="{instant(now)}"{dest}{irt}>'
        f'<saml:Issuer>{esc(spec.get("response_issuer", spec.get("issuer", idp)))}</saml:Issuer>'
        + (signature_template(response_id) if sign in ('response', 'both') else '')
        + '<samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status>'
        f'{assertion}</samlp:Response>'
    )
    # The assertion first, then the response around it (its digest covers the signed assertion).
    if sign in ('assertion', 'both'):
        response = xmlsec_sign(response, key, cert, "//*[local-name()='Assertion']/*[local-name()='Signature']")
    if sign in ('response', 'both'):
        response = xmlsec_sign(response, key, cert, "/*/*[local-name()='Signature']")
    return response


def idp_metadata(base, cert, want_signed=False):
    return (
        f'<md:EntityDescriptor xmlns:md="{NS["md"]}" xmlns:ds="{NS["ds"]}" entityID="{esc(base)}/metadata">'
        f'<md:IDPSSODescriptor WantAuthnRequestsSigned="{"true" if want_signed else "false"}" protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">'
        f'<md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{cert_body(cert)}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>'
        f'<md:NameIDFormat>{EMAIL_FORMAT}</md:NameIDFormat>'
        f'<md:SingleSignOnService Binding="{REDIRECT_BINDING}" Location="{esc(base)}/sso"/>'
        '</md:IDPSSODescriptor></md:EntityDescriptor>'
    )


def read_sp_metadata(url):
    """Entity ID, ACS URL (HTTP-POST) and signing certificate (if any) of the SP."""
    with urllib.request.urlopen(url) as r:
        root = ET.fromstring(r.read())
    sp = root.find('md:SPSSODescriptor', NS)
    acs = next(a.get('Location') for a in sp.findall('md:AssertionConsumerService', NS) if a.get('Binding') == POST_BINDING)
    cert = None
    for kd in sp.findall('md:KeyDescriptor', NS):
        if kd.get('use') in (None, 'signing'):
            found = kd.find('.//ds:X509Certificate', NS)
            cert = re.sub(r'\s', '', found.text) if found is not None else None
    return {'entity_id': root.get('entityID'), 'acs_url': acs, 'cert': cert,
            'requests_signed': sp.get('AuthnRequestsSigned') == 'true'}


def verify_redirect_signature(raw_query, cert_b64):
    """SAML bindings §3.4.4.1: the signature covers SAMLRequest=…&RelayState=…&SigAlg=… as sent."""
    parts = dict(p.split('=', 1) for p in raw_query.split('&') if '=' in p)
    if urllib.parse.unquote(parts.get('SigAlg', '')) != RSA_SHA256:
        return False
    signed = '&'.join(f'{k}={parts[k]}' for k in ('SAMLRequest', 'RelayState', 'SigAlg') if k in parts)
    with tempfile.TemporaryDirectory() as tmp:
        pem = os.path.join(tmp, 'c.pem')
        with open(pem, 'w') as f:
            f.write('-----BEGIN CERTIFICATE-----\n' + '\n'.join(re.findall('.{1,64}', cert_b64)) + '\n-----END CERTIFICATE-----\n')
        pub = subprocess.run(['openssl', 'x509', '-pubkey', '-noout', '-in', pem], check=True, capture_output=True).stdout
        with open(os.path.join(tmp, 'p.pem'), 'wb') as f:
            f.write(pub)
        with open(os.path.join(tmp, 's.bin'), 'wb') as f:
            f.write(base64.b64decode(urllib.parse.unquote(parts['Signature'])))
        with open(os.path.join(tmp, 'd.txt'), 'w') as f:
            f.write(signed)
        ok = subprocess.run(['openssl', 'dgst', '-sha256', '-verify', os.path.join(tmp, 'p.pem'),
                             '-signature', os.path.join(tmp, 's.bin'), os.path.join(tmp, 'd.txt')], capture_output=True)
    return ok.returncode == 0


def post_form(acs, saml_response, relay_state=None):
    relay = f'<input type="hidden" name="RelayState" value="{esc(relay_state)}">' if relay_state else ''
    return (
        '<!doctype html><html><body><form method="post" action="' + esc(acs) + '">'
        f'<input type="hidden" name="SAMLResponse" value="{esc(saml_response)}">{relay}'
        '<button type="submit" name="continue">Continue to the application</button></form></body></html>'
    )


def serve(args):
    state = {'base': None}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def answer(self, status, body, content_type='text/html; charset=utf-8'):
            data = body.encode()
            self.send_response(status)
            self.send_header('Content-Type', content_type)
            self.send_header('Content-Length', str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def spec(self, sp, email, name, groups, in_response_to=None):
            return {
                'idp_entity_id': f'{state["base"]}/metadata', 'key': args.key, 'cert': args.cert,
                'sp_entity_id': sp['entity_id'], 'acs_url': sp['acs_url'], 'in_response_to': in_response_to,
                'name_id': email, 'attributes': {'email': email, 'displayName': name, 'groups': groups},
            }

        def do_GET(self):
            url = urllib.parse.urlsplit(self.path)
            query = urllib.parse.parse_qs(url.query)
            if url.path == '/metadata':
                return self.answer(200, idp_metadata(state['base'], args.cert, args.want_signed_requests), 'application/samlmetadata+xml')
            if url.path == '/sso':
                request = ET.fromstring(zlib.decompress(base64.b64decode(query['SAMLRequest'][0]), -15))
                sp_entity = request.find('saml:Issuer', NS).text
                sp = read_sp_metadata(sp_entity)  # Gatehouse's entity ID is its metadata URL
                if 'Signature' in query and not verify_redirect_signature(url.query, sp['cert'] or ''):
                    return self.answer(400, 'AuthnRequest signature does not verify')
                if args.want_signed_requests and 'Signature' not in query:
                    return self.answer(400, 'AuthnRequest is not signed')
                if request.get('AssertionConsumerServiceURL') not in (None, sp['acs_url']):
                    return self.answer(400, 'AssertionConsumerServiceURL is not in the SP metadata')
                return self.answer(200, (
                    '<!doctype html><html><body><h1>Test IdP</h1><form method="post" action="/login">'
                    f'<input type="hidden" name="sp" value="{esc(sp_entity)}"><input type="hidden" name="request_id" value="{esc(request.get("ID"))}">'
                    f'<input type="hidden" name="relay_state" value="{esc(query.get("RelayState", [""])[0])}">'
                    '<label>Email <input name="email" type="email"></label><label>Name <input name="name"></label>'
                    '<label>Groups <input name="groups"></label><button type="submit">Sign in</button></form></body></html>'))
            if url.path == '/idp-initiated':
                sp = read_sp_metadata(query['sp_metadata'][0])
                email = query.get('email', ['user@example.com'])[0]
                response = build_response(self.spec(sp, email, query.get('name', [''])[0], query.get('groups', [''])[0].split(',')))
                return self.answer(200, post_form(sp['acs_url'], base64.b64encode(response.encode()).decode()))
            return self.answer(404, 'not found')

        def do_POST(self):
            if self.path != '/login':
                return self.answer(404, 'not found')
            form = urllib.parse.parse_qs(self.rfile.read(int(self.headers.get('Content-Length', 0))).decode())
            field = lambda k: form.get(k, [''])[0]
            sp = read_sp_metadata(field('sp'))
            groups = [g.strip() for g in field('groups').split(',') if g.strip()]
            response = build_response(self.spec(sp, field('email'), field('name'), groups, field('request_id')))
            return self.answer(200, post_form(sp['acs_url'], base64.b64encode(response.encode()).decode(), field('relay_state') or None))

    server = ThreadingHTTPServer(('127.0.0.1', args.port), Handler)
    state['base'] = args.base or f'http://127.0.0.1:{server.server_address[1]}'
    print(f'listening {state["base"]}', flush=True)
    server.serve_forever()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest='command', required=True)
    s = sub.add_parser('serve')
    s.add_argument('--key', required=True, help='IdP signing key (PEM)')
    s.add_argument('--cert', required=True, help='IdP certificate (PEM)')
    s.add_argument('--port', type=int, default=0)
    s.add_argument('--base', help='external URL of this IdP (default http://127.0.0.1:PORT)')
    s.add_argument('--want-signed-requests', action='store_true', help='require signed AuthnRequests')
    m = sub.add_parser('metadata')
    m.add_argument('--cert', required=True)
    m.add_argument('--base', required=True)
    m.add_argument('--want-signed-requests', action='store_true')
    sub.add_parser('respond')
    args = parser.parse_args()
    if args.command == 'serve':
        serve(args)
    elif args.command == 'metadata':
        print(idp_metadata(args.base, args.cert, args.want_signed_requests))
    else:
        spec = json.load(sys.stdin)
        response = build_response(spec)
        print(response if spec.get('raw') else base64.b64encode(response.encode()).decode())


if __name__ == '__main__':
    main()
