// vitest globalSetup of the "kqueue" project: builds the emulation addon when its inputs changed
// (about 10-20 s on two cores; nothing when up to date).
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { build } = require('./build.cjs') as { build: () => void };

export default function setup(): void {
  build();
}
