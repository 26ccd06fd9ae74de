import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// Test-only: the addon built with the real kqueue backend over test/native/kqueue's emulation.
const KQUEUE_SUITES = [
  'test/selectors.test.ts',
  'test/loop-backends.test.ts',
  'test/tasks-backends.test.ts',
  'test/tasks-net.test.ts',
  'test/net-sock.test.ts',
  'test/net-resolve.test.ts',
  'test/transports.test.ts',
  'test/servers.test.ts',
  'test/contract.test.ts',
];
const KQUEUE_ADDON = fileURLToPath(new URL('./test/native/kqueue/out/build/Release/muxloop.node', import.meta.url));

export default defineConfig({
  test: {
    // Native addons with per-environment libuv handles: one process per test file.
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 30_000,
    projects: [
      { extends: true, test: { name: 'native', include: ['test/**/*.test.ts'] } },
      // On Linux, the suites that iterate the backends run once more against KqueueSelector
      // (the build lists kqueue alone); on macOS/BSD the native project already has it.
      ...(process.platform === 'linux'
        ? [
            {
              extends: true,
              test: {
                name: 'kqueue',
                include: KQUEUE_SUITES,
                globalSetup: ['test/native/kqueue/setup.ts'],
                env: { MUXLOOP_TEST_ADDON: KQUEUE_ADDON },
              },
            },
          ]
        : []),
    ],
  },
});
