//! A guest for the TLS tests: `IOStream::start_tls` on both sides of a STARTTLS exchange.
//!
//! Served (no arguments), each connection reads `STARTTLS`, answers `220 ready`, upgrades
//! with the host's certificate, then echoes every line prefixed with the TLS version:
//!
//! ```text
//! C: STARTTLS          S: 220 ready
//! (TLS handshake)
//! C: hello             S: TLSv1.3 hello
//! ```
//!
//! Run with `ADDRESS SERVER_NAME`, it is that client: it upgrades verifying `SERVER_NAME`,
//! sends `ping` and prints the answer.

use eddy_guest::{IOStream, Level, StreamError, TcpServer};

struct StartTls;

impl TcpServer for StartTls {
    async fn handle_stream(&self, stream: IOStream, _address: String) {
        if let Err(error) = serve(&stream).await {
            eddy_guest::log(Level::Info, &format!("starttls: {error}"));
        }
    }
}

async fn serve(stream: &IOStream) -> Result<(), StreamError> {
    let line = stream.read_until(b"\n", Some(1024)).await?;
    if line.trim_ascii() != b"STARTTLS" {
        stream.write(&b"500 say STARTTLS first\r\n"[..]).await?;
        return Ok(());
    }
    stream.write(&b"220 ready\r\n"[..]).await?;
    stream.start_tls(None).await?;
    let version = stream.tls_info().map(|tls| tls.version).unwrap_or_default();
    loop {
        let line = stream.read_until(b"\n", Some(64 * 1024)).await?;
        let mut answer = format!("{version} ").into_bytes();
        answer.extend_from_slice(&line);
        stream.write(answer).await?;
    }
}

async fn client(address: &str, server_name: &str) -> Result<String, StreamError> {
    let stream = IOStream::new();
    stream.connect(address).await?;
    stream.write(&b"STARTTLS\r\n"[..]).await?;
    let ready = stream.read_until(b"\n", Some(1024)).await?;
    if !ready.starts_with(b"220") {
        return Ok(format!("refused: {}", String::from_utf8_lossy(&ready)));
    }
    stream.start_tls(Some(server_name)).await?;
    stream.write(&b"ping\n"[..]).await?;
    let answer = stream.read_until(b"\n", Some(1024)).await?;
    Ok(String::from_utf8_lossy(&answer).into_owned())
}

fn main(args: Vec<String>) -> Result<(), String> {
    match args.as_slice() {
        [] => {
            eddy_guest::listen(StartTls);
            Ok(())
        }
        [address, server_name] => {
            let (address, server_name) = (address.clone(), server_name.clone());
            eddy_guest::spawn(async move {
                let code = match client(&address, &server_name).await {
                    Ok(answer) => {
                        eddy_guest::print(answer.as_bytes());
                        0
                    }
                    Err(error) => {
                        eddy_guest::log(Level::Error, &format!("{address}: {error}"));
                        1
                    }
                };
                eddy_guest::stop(code);
            });
            Ok(())
        }
        _ => Err("usage: starttls [ADDRESS SERVER_NAME]".into()),
    }
}

eddy_guest::export!(main);
