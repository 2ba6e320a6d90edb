/**
 * SigV4 signing for admin calls to a Lambda Function URL with IAM auth. The AWS libraries are
 * imported on first use so that talking to a local gateway never loads the AWS SDK.
 */

export interface AwsCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  expiration?: Date;
}

export type CredentialSource = () => Promise<AwsCredentials>;

const LAMBDA_URL_HOST = /^[a-z0-9]+\.lambda-url\.([a-z0-9-]+)\.on\.aws$/i;

/** The region of a Lambda Function URL host (`<id>.lambda-url.<region>.on.aws`), else undefined. */
export function lambdaUrlRegion(hostname: string): string | undefined {
  return LAMBDA_URL_HOST.exec(hostname)?.[1]?.toLowerCase();
}

/**
 * Static keys from the given environment when it has them (what the SDK's chain would pick
 * first, unless AWS_PROFILE is set), otherwise the SDK's default provider chain.
 */
export function defaultCredentialSource(env: NodeJS.ProcessEnv): CredentialSource {
  const accessKeyId = env.AWS_ACCESS_KEY_ID;
  const secretAccessKey = env.AWS_SECRET_ACCESS_KEY;
  if (accessKeyId && secretAccessKey && !env.AWS_PROFILE) {
    const sessionToken = env.AWS_SESSION_TOKEN || undefined;
    return async () => ({ accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) });
  }
  let provider: CredentialSource | undefined;
  return async () => {
    if (!provider) {
      const { defaultProvider } = await import('@aws-sdk/credential-provider-node');
      provider = defaultProvider();
    }
    return provider();
  };
}

export interface SignableRequest {
  method: string;
  url: URL;
  headers: Record<string, string>;
  body?: string;
}

/** Thrown when no credentials could be loaded, so the caller can say so in one line. */
export class CredentialsError extends Error {
  override readonly name = 'CredentialsError';
}

/**
 * Returns the headers to send: the input headers plus authorization, x-amz-date,
 * x-amz-content-sha256 (Lambda URLs require the payload hash for requests with a body) and,
 * with temporary credentials, x-amz-security-token. `host` is signed but not returned, since
 * fetch derives the same value from the URL.
 */
export async function signLambdaRequest(
  request: SignableRequest,
  region: string,
  credentials: CredentialSource,
): Promise<Record<string, string>> {
  let resolved: AwsCredentials;
  try {
    resolved = await credentials();
  } catch (err) {
    throw new CredentialsError(err instanceof Error ? err.message : String(err));
  }
  const [{ SignatureV4 }, { Sha256 }] = await Promise.all([
    import('@smithy/signature-v4'),
    import('@aws-crypto/sha256-js'),
  ]);
  const signer = new SignatureV4({
    service: 'lambda',
    region,
    credentials: resolved,
    sha256: Sha256,
    applyChecksum: true,
  });
  const { url } = request;
  const query: Record<string, string> = {};
  for (const [key, value] of url.searchParams) query[key] = value;
  const signed = await signer.sign({
    method: request.method,
    protocol: url.protocol,
    hostname: url.hostname,
    ...(url.port ? { port: Number(url.port) } : {}),
    // The path as sent on the wire; the signer encodes it once more, as AWS expects for non-S3.
    path: url.pathname,
    query,
    headers: { ...request.headers, host: url.host },
    ...(request.body === undefined ? {} : { body: request.body }),
  });
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(signed.headers)) {
    if (name.toLowerCase() !== 'host') headers[name] = String(value);
  }
  return headers;
}
