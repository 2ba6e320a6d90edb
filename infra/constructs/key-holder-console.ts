import { Duration, Fn } from 'aws-cdk-lib';
import { type FunctionUrl, FunctionUrlAuthType } from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';
import { ENV } from '../../shared/config.js';
import type { TiergateConfig } from '../config.js';
import { GatewayFunction } from './gateway-function.js';

export interface KeyHolderConsoleProps {
  readonly config: TiergateConfig;
  /** The public API function: the page calls its Function URL. */
  readonly publicApi: GatewayFunction;
}

/**
 * The key holders' console (DESIGN §15): a small function of its own that serves the built page at its
 * Function URL, so the completions bundle does not grow. It reads nothing of the ledger: the page talks to
 * the public API with the key its user pastes.
 */
export class KeyHolderConsole extends Construct {
  readonly function: GatewayFunction;
  readonly url: FunctionUrl;
  /** `https://<id>.lambda-url.<region>.on.aws`: the one origin the public API's CORS admits. */
  readonly origin: string;

  constructor(scope: Construct, id: string, props: KeyHolderConsoleProps) {
    super(scope, id);
    this.function = new GatewayFunction(this, 'Console', {
      entry: 'console',
      description: "Tiergate key holders' console page (/console)",
      logRetention: props.config.logRetentionDays,
      timeout: Duration.seconds(10),
      memorySize: 256,
    }).bindFunctionUrlOf(props.publicApi, ENV.publicFunctionName);
    // A page anyone may load: it holds no data, and every call it makes carries the user's key.
    this.url = this.function.function.addFunctionUrl({ authType: FunctionUrlAuthType.NONE });
    // The URL ends in a slash, an origin does not: the third part of `https://host/` split on '/'.
    this.origin = Fn.join('', ['https://', Fn.select(2, Fn.split('/', this.url.url))]);
  }

  /** The page's address, for the stack output. */
  get pageUrl(): string {
    return Fn.join('', [this.url.url, 'console']);
  }
}
