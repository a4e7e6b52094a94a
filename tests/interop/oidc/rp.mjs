// An OpenID Connect relying party we did not write: openid-client (panva), pinned in package.json.
//
// One JSON request on stdin, one JSON answer on stdout; exit 1 (with {"error": ...}) when any step fails.
//   {"step": "start", "issuer", "client_id", "redirect_uri", "scope", "auth"?, "client_secret"?, "private_jwk"?,
//    "claims"?, "acr_values"?, "extra"?}
//     -> discovery from {issuer}/.well-known/openid-configuration, then an authorization URL with PKCE S256,
//        state and nonce: {"url", "code_verifier", "state", "nonce", "metadata"}
//   {"step": "finish", ...the client fields, "callback_url", "code_verifier", "state", "nonce", "max_age"?}
//     -> authorizationCodeGrant (state, RFC 9207 iss when advertised, PKCE, ID token iss/aud/exp/nonce and, with
//        enableNonRepudiationChecks, its signature against the JWKS), then fetchUserInfo with the ID token's sub:
//        {"id_token", "id_token_claims", "id_token_header", "userinfo", "token"}
// "auth" is "client_secret_basic" (default) or "private_key_jwt" (openid-client's PrivateKeyJwt with the private
// JWK given, its "kid" in the assertion header). http on 127.0.0.1 needs allowInsecureRequests.
import * as client from "openid-client";

function fail(error) {
  const answer = {
    error: error?.name ?? "Error",
    message: String(error?.message ?? error),
    code: error?.code,
    oauth_error: error?.error,
    error_description: error?.error_description,
    status: error?.status,
    cause: error?.cause === undefined ? undefined : String(error.cause?.message ?? error.cause),
  };
  process.stdout.write(JSON.stringify(answer));
  process.exit(1);
}

async function readStdin() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  return JSON.parse(Buffer.concat(chunks).toString("utf8"));
}

async function clientAuth(request) {
  const method = request.auth ?? "client_secret_basic";
  if (method === "client_secret_basic") return client.ClientSecretBasic(request.client_secret);
  if (method === "client_secret_post") return client.ClientSecretPost(request.client_secret);
  if (method === "private_key_jwt") {
    const jwk = request.private_jwk;
    const algorithm = jwk.kty === "EC" ? { name: "ECDSA", namedCurve: jwk.crv } : { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" };
    const key = await crypto.subtle.importKey("jwk", jwk, algorithm, false, ["sign"]);
    return client.PrivateKeyJwt({ key, kid: jwk.kid });
  }
  throw new Error(`unknown client authentication ${method}`);
}

async function configure(request) {
  const metadata = { redirect_uris: [request.redirect_uri] };
  if (request.auth === "private_key_jwt") metadata.token_endpoint_auth_method = "private_key_jwt";
  if (request.id_token_signed_response_alg) metadata.id_token_signed_response_alg = request.id_token_signed_response_alg;
  return client.discovery(new URL(request.issuer), request.client_id, metadata, await clientAuth(request), {
    execute: [client.allowInsecureRequests, client.enableNonRepudiationChecks],
  });
}

async function start(request) {
  const config = await configure(request);
  const code_verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const nonce = client.randomNonce();
  const parameters = {
    redirect_uri: request.redirect_uri,
    scope: request.scope,
    code_challenge: await client.calculatePKCECodeChallenge(code_verifier),
    code_challenge_method: "S256",
    state,
    nonce,
  };
  if (request.claims !== undefined) parameters.claims = JSON.stringify(request.claims);
  if (request.acr_values !== undefined) parameters.acr_values = request.acr_values;
  Object.assign(parameters, request.extra ?? {});
  const url = client.buildAuthorizationUrl(config, parameters);
  return { url: url.href, code_verifier, state, nonce, metadata: config.serverMetadata() };
}

async function finish(request) {
  const config = await configure(request);
  const checks = {
    pkceCodeVerifier: request.code_verifier,
    expectedState: request.state,
    expectedNonce: request.nonce,
    idTokenExpected: true,
  };
  if (request.max_age !== undefined) checks.maxAge = request.max_age;
  const tokens = await client.authorizationCodeGrant(config, new URL(request.callback_url), checks);
  const claims = tokens.claims();
  const userinfo = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
  const [header] = tokens.id_token.split(".");
  return {
    id_token: tokens.id_token,
    id_token_header: JSON.parse(Buffer.from(header, "base64url").toString("utf8")),
    id_token_claims: claims,
    userinfo,
    token: { token_type: tokens.token_type, scope: tokens.scope, expires_in: tokens.expires_in, access_token: tokens.access_token },
  };
}

try {
  const request = await readStdin();
  const answer = request.step === "finish" ? await finish(request) : await start(request);
  process.stdout.write(JSON.stringify(answer));
} catch (error) {
  fail(error);
}
