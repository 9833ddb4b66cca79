//! livehook's `alibaba` Lambda function: see the shared crate for the pipeline.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    livehook::lambda::serve(&livehook::providers::Alibaba).await
}
