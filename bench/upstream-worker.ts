/** Worker thread: the demo upstream on its own event loop. */
import { type DemoUpstream, type DemoUpstreamOptions, startDemoUpstream } from '../local/demo-upstream.js';
import { serve } from './threads.js';

let demo: DemoUpstream | undefined;

serve({
  start: async (options: DemoUpstreamOptions) => {
    demo ??= await startDemoUpstream(options);
    return { baseUrl: demo.baseUrl };
  },
  /** Requests received since the last call; also forgets them, so memory stays flat. */
  takeRequestCount: async () => {
    const n = demo?.requests.length ?? 0;
    if (demo) demo.requests.length = 0;
    return n;
  },
  close: async () => {
    await demo?.close();
    demo = undefined;
    return null;
  },
});
