// The command that runs this Node for a unit test's child process: process.execPath, or
// HA_TEST_NODE where that binary cannot be exec'd directly. The aarch64 tier runs Node's aarch64
// build under qemu-user on an x86_64 host without binfmt_misc (test/system/aarch64-release.test.ts):
// there process.execPath is the aarch64 binary, and HA_TEST_NODE names the qemu wrapper that runs it.
export const NODE_COMMAND = process.env.HA_TEST_NODE || process.execPath;
