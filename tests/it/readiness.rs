//! `/readyz` asks the NATS server about every stream a service needs: a stream
//! deleted under a running Herald makes it unready, with the reason.

use herald_tests::{Herald, NatsServer, PATIENCE, eventually};
use reqwest::StatusCode;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_stream_makes_readyz_answer_503_naming_it() {
    let nats = NatsServer::start();
    let herald = Herald::start(&nats.url(), &[]).await;
    let url = format!("{}/readyz", herald.base_url);
    let ready = reqwest::get(&url).await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK);

    let js = async_nats::jetstream::new(async_nats::connect(nats.url()).await.unwrap());
    js.delete_stream("REJECTED").await.unwrap();

    let reason = eventually(PATIENCE, "/readyz to notice the missing stream", || {
        let url = url.clone();
        async move {
            let answer = reqwest::get(&url).await.ok()?;
            (answer.status() == StatusCode::SERVICE_UNAVAILABLE)
                .then_some(answer.text().await.ok()?)
        }
    })
    .await;
    assert!(reason.contains("REJECTED"), "{reason}");
    assert!(reason.contains("missing"), "{reason}");
}
