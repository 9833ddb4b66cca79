//! livehook's `relay` Lambda function: the table's stream to SNS (see the
//! shared crate's `relay` module).

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    livehook::lambda::serve_relay().await
}
