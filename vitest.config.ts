import { defineConfig } from 'vitest/config';

// Expected noise stays out of the test output (the runner process loads the AWS SDK for
// DynamoDB Local; workers get the same in test/support/setup.ts): the SDK's Node-version
// notice, and the handlers' logs of errors that tests provoke on purpose. Set
// POWERTOOLS_LOG_LEVEL=DEBUG to see the logs.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
process.env.POWERTOOLS_LOG_LEVEL ??= 'SILENT';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 120_000,
    setupFiles: ['test/support/setup.ts'],
    globalSetup: ['test/support/global-setup.ts'],
  },
});
