//! The `livehook` command's integration tests, one module per concern,
//! linked as one binary (the AWS SDK and the test kit are linked once).
//! The pipeline tests share the test kit's emulator; the pump's restart test
//! starts and restarts its own.

mod env;
mod keys;
mod pipeline;
mod pump;
mod register;
