// An external OpenID provider for the federation tests: `oidc-provider` (pinned in
// package-lock.json) on loopback, issuing RFC 9068 JWT access tokens for the FHIR server
// (client credentials with a resource indicator) and ID tokens to the FHIR server acting as
// a relying party (authorization code + PKCE).
//
// Run: node idp.mjs. Prints `issuer <url>` once listening. Commands on stdin, one a line,
// each answered by one line on stdout:
//   rotate         sign with a new key, keep publishing the previous ones      -> `ok <kid>`
//   retire         sign with a new key and drop every older one from the JWKS  -> `ok <kid>`
//   jwks-fetches   how many times the JWKS was fetched so far                 -> `<n>`
//   redirect-uri U allow U as the relying party client's redirect URI          -> `ok`
// The test client `ward-app` (secret `ward-secret`) gets client-credentials tokens that
// carry the claims of the account named by the `login_hint` parameter of its token request;
// the relying-party client is `fhir-access` (secret `fhir-access-secret`).
import http from 'node:http';
import crypto from 'node:crypto';
import readline from 'node:readline';
import Provider from 'oidc-provider';

// The people this provider knows, with claims in the provider's own vocabulary: the FHIR
// server maps them by configuration (`groups` -> roles, `patient_id` -> patient, ...).
const accounts = {
  'lucien@idp.test': {
    name: 'Lucien Hahn',
    groups: ['patients'],
    patient_id: '717282e4-5d08-4cbd-afad-596051966367',
    fhir_user: 'Patient/717282e4-5d08-4cbd-afad-596051966367',
  },
  'grey@idp.test': {
    name: 'Meredith Grey',
    groups: ['clinicians', 'staff'],
    fhir_user: 'Practitioner/grey',
    assigned: ['717282e4-5d08-4cbd-afad-596051966367'],
  },
  'visitor@idp.test': {
    name: 'Vic Visitor',
    groups: ['golf-club'],
  },
};

// Keys: the first one signs. `rotate` and `retire` put a new key first.
let keys = [newKey()];
let jwksFetches = 0;
let redirectUris = ['http://127.0.0.1/unused'];

function newKey() {
  const { privateKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = privateKey.export({ format: 'jwk' });
  return { ...jwk, kid: `k-${crypto.randomBytes(6).toString('hex')}`, alg: 'ES256', use: 'sig' };
}

// One provider per key set: its keystore is fixed at construction. Grants, sessions and
// interactions live in the default memory adapter, shared by every instance.
function build(issuer) {
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: 'ward-app',
        client_secret: 'ward-secret',
        grant_types: ['client_credentials'],
        response_types: [],
        redirect_uris: [],
        id_token_signed_response_alg: 'ES256',
      },
      {
        client_id: 'fhir-access',
        client_secret: 'fhir-access-secret',
        grant_types: ['authorization_code'],
        response_types: ['code'],
        redirect_uris: redirectUris,
        token_endpoint_auth_method: 'client_secret_basic',
        id_token_signed_response_alg: 'ES256',
      },
    ],
    jwks: { keys },
    cookies: { keys: ['idp-test-cookie-key'] },
    claims: { openid: ['sub'], profile: ['name'], fhir: ['fhir_user', 'groups', 'patient_id', 'assigned'] },
    scopes: ['openid', 'profile', 'fhir'],
    findAccount: async (_ctx, id) => accounts[id] && {
      accountId: id,
      claims: async () => ({ sub: id, ...accounts[id] }),
    },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        // Any loopback FHIR server asking by its base URL: the test's server port is
        // chosen by the operating system.
        getResourceServerInfo: async (_ctx, resource) => {
          if (!/^http:\/\/127\.0\.0\.1:\d+\/fhir$/.test(resource)) throw new Error(`unknown resource ${resource}`);
          return {
            scope: 'system/Patient.rs system/Observation.rs patient/Patient.rs patient/Observation.rs user/Patient.rs user/Observation.rs',
            audience: resource,
            accessTokenFormat: 'jwt',
            accessTokenTTL: 300,
            jwt: { sign: { alg: 'ES256' } },
          };
        },
      },
    },
    // Client-credentials tokens speak for the account the test names in `login_hint`.
    extraTokenClaims: async (ctx, token) => {
      const hint = ctx.oidc.body?.login_hint;
      if (token.kind !== 'ClientCredentials' || !hint || !accounts[hint]) return undefined;
      return { acct: hint, ...accounts[hint] };
    },
    extraParams: ['login_hint'],
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    pkce: { required: () => true },
    ttl: { AccessToken: 300, ClientCredentials: 300, IdToken: 300, AuthorizationCode: 60, Interaction: 300, Session: 3600, Grant: 3600 },
  });
  provider.proxy = false;
  return provider;
}

// A tiny login page: the form posts a user name; no password (test accounts only).
async function interaction(provider, req, res) {
  const details = await provider.interactionDetails(req, res);
  if (req.method === 'GET') {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(`<!doctype html><form method="post"><label>User <input name="user"></label><button>Sign in</button></form>`);
    return;
  }
  const body = await new Promise((resolve) => {
    let data = '';
    req.on('data', (chunk) => { data += chunk; });
    req.on('end', () => resolve(new URLSearchParams(data)));
  });
  const accountId = body.get('user');
  if (!accounts[accountId]) {
    await provider.interactionFinished(req, res, { error: 'access_denied', error_description: 'unknown user' }, { mergeWithLastSubmission: false });
    return;
  }
  const grant = new provider.Grant({ accountId, clientId: details.params.client_id });
  grant.addOIDCScope(details.params.scope);
  const grantId = await grant.save();
  await provider.interactionFinished(req, res, { login: { accountId }, consent: { grantId } }, { mergeWithLastSubmission: false });
}

const server = http.createServer();
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const issuer = `http://127.0.0.1:${server.address().port}`;
let provider = build(issuer);
server.on('request', (req, res) => {
  if (req.url === '/jwks') jwksFetches += 1;
  if (req.url.startsWith('/interaction/')) {
    interaction(provider, req, res).catch((error) => {
      res.writeHead(500);
      res.end(String(error));
    });
    return;
  }
  provider.callback()(req, res);
});

const lines = readline.createInterface({ input: process.stdin });
lines.on('line', (line) => {
  const [command, argument] = line.trim().split(/\s+/, 2);
  if (command === 'rotate' || command === 'retire') {
    keys = command === 'rotate' ? [newKey(), ...keys] : [newKey()];
    provider = build(issuer);
    console.log(`ok ${keys[0].kid}`);
  } else if (command === 'jwks-fetches') {
    console.log(String(jwksFetches));
  } else if (command === 'redirect-uri') {
    redirectUris = [argument];
    provider = build(issuer);
    console.log('ok');
  } else {
    console.log(`error unknown command ${command}`);
  }
});
// The test closes stdin when it is done: then stop.
lines.on('close', () => process.exit(0));
console.log(`issuer ${issuer}`);
