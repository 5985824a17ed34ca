//! An HTTP server guest for the integration tests:
//!
//! - `/stream?n=N` writes N pieces `piece I\n`, 20 ms apart, each flushed as written;
//! - `/slow?ms=M` answers `slept M` after M milliseconds (default 1000), without blocking;
//! - `/big?mb=N` answers N MiB (default 8) as one whole response;
//! - `/trap` panics: the whole server guest traps (its worker must recover);
//! - `/count` streams its request body (never buffered) and answers `counted N sum S`, the
//!   byte count and the byte sum; `/ignore` streams it too but reads none of it;
//! - anything else gets the whole response `whole`.

use std::time::Duration;

use eddy_guest::http::{Request, RequestHead, Response};
use eddy_guest::{ResponseWriter, StreamingHandler};

struct Streamer;

impl StreamingHandler for Streamer {
    async fn respond<'a>(&'a self, request: Request, response: ResponseWriter<'a>) {
        match request.path.as_str() {
            "/stream" => {}
            "/trap" => panic!("asked to trap"),
            "/count" => {
                let (mut count, mut sum) = (0u64, 0u64);
                let answer = loop {
                    match response.read_body().await {
                        Ok(Some(piece)) => {
                            count += piece.len() as u64;
                            sum += piece.iter().map(|&b| u64::from(b)).sum::<u64>();
                        }
                        Ok(None) => {
                            break Response::text(200, format!("counted {count} sum {sum}"));
                        }
                        Err(_) => break Response::error(400),
                    }
                };
                let _ = response.send(answer).await;
                return;
            }
            "/ignore" => {
                let _ = response.send(Response::text(200, "ignored")).await;
                return;
            }
            "/big" => {
                let mib: usize = request
                    .argument("mb")
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(8);
                let _ = response
                    .send(Response::text(200, vec![b'x'; mib << 20]))
                    .await;
                return;
            }
            "/slow" => {
                let ms: u64 = request
                    .argument("ms")
                    .and_then(|ms| ms.parse().ok())
                    .unwrap_or(1000);
                eddy_guest::sleep(Duration::from_millis(ms)).await;
                let _ = response
                    .send(Response::text(200, format!("slept {ms}")))
                    .await;
                return;
            }
            _ => {
                let _ = response.send(Response::text(200, "whole")).await;
                return;
            }
        }
        let pieces: u32 = request
            .argument("n")
            .and_then(|n| n.parse().ok())
            .unwrap_or(3);
        if response
            .write_head(Response::new(200).header("Content-Type", "text/plain"))
            .await
            .is_err()
        {
            return;
        }
        for index in 0..pieces {
            if response
                .write(format!("piece {index}\n").as_bytes())
                .await
                .is_err()
            {
                return;
            }
            eddy_guest::sleep(Duration::from_millis(20)).await;
        }
        let _ = response.finish().await;
    }

    fn streams_body(&self, head: &RequestHead) -> bool {
        head.uri.starts_with("/count") || head.uri.starts_with("/ignore")
    }
}

fn main(_args: Vec<String>) -> Result<(), String> {
    eddy_guest::serve_http_streaming(Streamer)
}

eddy_guest::export!(main);
