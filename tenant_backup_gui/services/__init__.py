"""Use-cases as jobs: prepare() says what is wrong without touching anything, run() does the work
(async; blocking I/O runs on worker threads), cancel() asks it to stop. The window and the CLI
drive the same jobs and read the same progress events."""
