// A real OpenID provider for the test suite: panva's oidc-provider (an OpenID Certified
// implementation), on loopback. Usage: node provider.mjs <config.json>; prints "ready <issuer>".
//
// config.json: {"port": 0, "clients": [{client_id, client_secret, redirect_uris, ...}]}.
// Clients may carry one test-only setting, applied to the token endpoint's answer by re-minting
// the ID token with the provider's own IdToken class (its keys, its issuer):
//   "x_id_token": "audience:<other client id>"  the ID token is issued to another client
//   "x_id_token": "nonce:<value>"                the ID token carries another nonce
//   "x_id_token": "expired"                      the ID token expired 10 minutes ago
//
// Logging in: the interaction page is ours, not a form. The browser (the test's HTTP client)
// sends the account to sign in as JSON in the X-Test-Account header
// ({"sub", "email", "email_verified", "name"}), or X-Test-Deny: 1 to refuse (access_denied).
// Consent is granted for whatever was asked.
import { readFileSync } from 'node:fs';
import http from 'node:http';

import Provider from 'oidc-provider';

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const accounts = new Map();

const server = http.createServer();
await new Promise((resolve) => server.listen(config.port || 0, '127.0.0.1', resolve));
const issuer = `http://127.0.0.1:${server.address().port}`;

const provider = new Provider(issuer, {
  clients: config.clients.map(({ x_id_token: _, ...client }) => ({
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    ...client,
  })),
  async findAccount(ctx, id) {
    const account = accounts.get(id);
    if (!account) return undefined;
    return { accountId: id, async claims() { return { ...account, sub: id }; } };
  },
  claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
  features: {
    devInteractions: { enabled: false },
    revocation: { enabled: true },
  },
  pkce: { required: () => true },
  // A refresh token for every client allowed the grant (not only with offline_access).
  issueRefreshToken: async (ctx, client) => client.grantTypeAllowed('refresh_token'),
  ttl: { AccessToken: 3600, AuthorizationCode: 120, IdToken: 3600, RefreshToken: 86400, Interaction: 600, Session: 3600, Grant: 3600 },
  cookies: { keys: ['saaskit-test-provider-cookie-key'] },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
});
provider.proxy = false;

// Test-only misbehaviour of some clients (see the header of this file).
const special = new Map(config.clients.filter((c) => c.x_id_token).map((c) => [c.client_id, c.x_id_token]));
provider.use(async (ctx, next) => {
  await next();
  if (ctx.path !== '/token' || ctx.status !== 200 || !ctx.body?.id_token) return;
  const how = special.get(ctx.oidc?.client?.clientId);
  if (!how) return;
  const claims = JSON.parse(Buffer.from(ctx.body.id_token.split('.')[1], 'base64url').toString());
  const { sub, nonce, email, email_verified: verified, name } = claims;
  let client = ctx.oidc.client;
  let expiresAt;
  let useNonce = nonce;
  if (how.startsWith('audience:')) client = await provider.Client.find(how.slice('audience:'.length));
  if (how.startsWith('nonce:')) useNonce = how.slice('nonce:'.length);
  if (how === 'expired') expiresAt = Math.floor(Date.now() / 1000) - 600;
  const token = new provider.IdToken({ sub, email, email_verified: verified, name }, { ctx, client });
  token.scope = 'openid email profile';
  token.set('nonce', useNonce);
  ctx.body = { ...ctx.body, id_token: await token.issue({ use: 'idtoken', expiresAt }) };
});

async function interaction(req, res) {
  const details = await provider.interactionDetails(req, res);
  const { prompt, params, session } = details;
  if (req.headers['x-test-deny']) {
    return provider.interactionFinished(req, res, { error: 'access_denied', error_description: 'the user said no' });
  }
  if (prompt.name === 'login') {
    const account = JSON.parse(req.headers['x-test-account'] || 'null');
    if (!account?.sub) {
      res.writeHead(400, { 'content-type': 'text/plain' });
      return res.end('send X-Test-Account');
    }
    accounts.set(account.sub, account);
    return provider.interactionFinished(req, res, { login: { accountId: account.sub } }, { mergeWithLastSubmission: false });
  }
  const grant = details.grantId
    ? await provider.Grant.find(details.grantId)
    : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
  if (prompt.details.missingOIDCScope) grant.addOIDCScope(prompt.details.missingOIDCScope.join(' '));
  if (prompt.details.missingOIDCClaims) grant.addOIDCClaims(prompt.details.missingOIDCClaims);
  const grantId = await grant.save();
  return provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
}

const callback = provider.callback();
server.on('request', (req, res) => {
  if (req.url.startsWith('/interaction/')) {
    interaction(req, res).catch((err) => {
      res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(String(err));
    });
    return;
  }
  callback(req, res);
});
process.stdout.write(`ready ${issuer}\n`);
process.on('SIGTERM', () => server.close(() => process.exit(0)));
