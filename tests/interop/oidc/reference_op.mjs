// A reference OpenID provider (panva's oidc-provider, a devDependency pinned in package.json) that proves the
// relying-party drivers on their own: pairwise subjects, PKCE S256 required, its development login and consent
// pages (devInteractions; any login name and password pass). Reads {"clients": [...client metadata...], "claims":
// {...the account's claims...}} on stdin, listens on 127.0.0.1 (a free port), prints {"issuer": URL} on one line
// and serves until killed. Scope claims go into the ID token too (conformIdTokenClaims off). Test use only.
import { createServer } from "node:http";
import Provider from "oidc-provider";

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const { clients, claims } = JSON.parse(Buffer.concat(chunks).toString("utf8"));

const server = createServer();
await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
const issuer = `http://127.0.0.1:${server.address().port}`;

const provider = new Provider(issuer, {
  clients,
  subjectTypes: ["public", "pairwise"],
  pairwiseIdentifier: async (ctx, accountId, client) => `${client.sectorIdentifier}|${accountId}`.replace(/[^A-Za-z0-9|.-]/g, "_"),
  pkce: { required: () => true },
  scopes: ["openid", "name", "address", "birthdate", "gender"],
  claims: { openid: ["sub"], name: ["name"], address: ["address"], birthdate: ["birthdate"], gender: ["gender"] },
  findAccount: async (ctx, id) => ({
    accountId: id,
    claims: async () => ({ ...claims, sub: id }),
  }),
  features: { devInteractions: { enabled: true }, claimsParameter: { enabled: true } },
  acrValues: ["aal3"],
  conformIdTokenClaims: false,
});
provider.on("server_error", (ctx, error) => process.stderr.write(`server_error: ${error.stack}\n`));
server.on("request", provider.callback());
process.stdout.write(`${JSON.stringify({ issuer })}\n`);
