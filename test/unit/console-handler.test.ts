import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildConsolePage } from '../../console/build.js';
import { createConsoleHandler } from '../../shared/runtime/console-handler.js';
import { functionUrlOf } from '../../shared/runtime/function-url-lookup.js';

const page = buildConsolePage();
const event = (rawPath: string, method = 'GET') =>
  ({ rawPath, requestContext: { http: { method } } }) as unknown as APIGatewayProxyEventV2;

describe('the console page', () => {
  it('is one file: the script and the stylesheet inlined, hashed for the CSP', () => {
    expect(page.html).not.toContain('src="main.js"');
    expect(page.html).not.toContain('href="style.css"');
    expect(page.html).toMatch(/<script type="module">.+<\/script>/s);
    expect(page.html).toMatch(/<style>.+<\/style>/s);
    expect(page.scriptHash).not.toBe(page.styleHash);
  });

  it('is served with the API base filled in and a CSP that connects to that API alone', async () => {
    const handler = createConsoleHandler(page, async () => 'https://abc123.lambda-url.eu-west-1.on.aws/');
    const res = await handler(event('/console'));
    expect(res.statusCode).toBe(200);
    expect(res.headers?.['content-type']).toBe('text/html; charset=utf-8');
    expect(res.body).toContain(
      '<meta name="tiergate-api" content="https://abc123.lambda-url.eu-west-1.on.aws">',
    );
    const csp = String(res.headers?.['content-security-policy']);
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain(`script-src ${page.scriptHash}`);
    expect(csp).toContain(`style-src ${page.styleHash}`);
    expect(csp).toContain('connect-src https://abc123.lambda-url.eu-west-1.on.aws;');
    expect(csp).toContain("frame-ancestors 'none'");
    expect(res.headers?.['referrer-policy']).toBe('no-referrer');
  });

  it('connects to its own origin when it shares one with the API (npm start)', async () => {
    const res = await createConsoleHandler(page, async () => '')(event('/console/'));
    expect(res.body).toContain('<meta name="tiergate-api" content="">');
    expect(String(res.headers?.['content-security-policy'])).toContain("connect-src 'self';");
  });

  it('answers HEAD without a body, refuses other methods and unknown paths, and says when it cannot find the API', async () => {
    const handler = createConsoleHandler(page, async () => '');
    expect(await handler(event('/console', 'HEAD'))).toMatchObject({ statusCode: 200, body: '' });
    expect(await handler(event('/console', 'POST'))).toMatchObject({
      statusCode: 405,
      headers: { allow: 'GET, HEAD' },
    });
    expect((await handler(event('/'))).statusCode).toBe(404);
    expect((await handler(event('/console/x'))).statusCode).toBe(404);
    const lost = createConsoleHandler(page, async () => {
      throw new Error('no URL');
    });
    expect((await lost(event('/console'))).statusCode).toBe(503);
  });
});

describe("the public API's URL, looked up by the console function", () => {
  const seen: IncomingMessage[] = [];
  let answer = 500;
  const server = createServer((req, res) => {
    seen.push(req);
    res.writeHead(answer, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify(answer === 200 ? { FunctionUrl: 'https://pub123.lambda-url.eu-west-1.on.aws/' } : {}),
    );
  });
  let endpoint: string;
  beforeAll(async () => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('asks GetFunctionUrlConfig once, signed with the role, and asks again only after a failure', async () => {
    const env = {
      AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE',
      AWS_SECRET_ACCESS_KEY: 'secret',
      AWS_SESSION_TOKEN: 'token',
    };
    const lookup = functionUrlOf('tiergate-completions', 'eu-west-1', env, endpoint);
    await expect(lookup()).rejects.toThrow(/answered 500/);
    answer = 200;
    expect(await lookup()).toBe('https://pub123.lambda-url.eu-west-1.on.aws/');
    expect(await lookup()).toBe('https://pub123.lambda-url.eu-west-1.on.aws/');
    expect(seen).toHaveLength(2);
    const request = seen[1] as IncomingMessage;
    expect(request.method).toBe('GET');
    expect(request.url).toBe('/2021-10-31/functions/tiergate-completions/url');
    expect(request.headers.authorization).toMatch(
      /^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\/\d{8}\/eu-west-1\/lambda\/aws4_request, /,
    );
    expect(request.headers['x-amz-security-token']).toBe('token');
  });
});
