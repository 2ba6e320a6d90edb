import { defaultCredentialSource, signLambdaRequest } from '../admin-client/sigv4.js';
import { lazy } from '../lazy.js';

/**
 * The Function URL of another function, read once (lambda:GetFunctionUrlConfig, SigV4-signed with the
 * execution role) and kept for the life of the instance; a failed read is tried again on the next call.
 * The stack cannot pass the public URL to the console function as configuration: the public URL's CORS
 * names the console's origin, so that would be a cycle.
 */
export function functionUrlOf(
  functionName: string,
  region: string,
  env: NodeJS.ProcessEnv = process.env,
  lambdaEndpoint = `https://lambda.${region}.amazonaws.com`,
) {
  const credentials = defaultCredentialSource(env);
  const read = async (): Promise<string> => {
    const endpoint = new URL(`/2021-10-31/functions/${encodeURIComponent(functionName)}/url`, lambdaEndpoint);
    const headers = await signLambdaRequest(
      { method: 'GET', url: endpoint, headers: {} },
      region,
      credentials,
    );
    const res = await fetch(endpoint, { headers, signal: AbortSignal.timeout(5_000) });
    if (!res.ok) throw new Error(`GetFunctionUrlConfig answered ${res.status}`);
    const { FunctionUrl } = (await res.json()) as { FunctionUrl?: string };
    if (!FunctionUrl) throw new Error('GetFunctionUrlConfig returned no FunctionUrl');
    return FunctionUrl;
  };
  return lazy(read);
}
