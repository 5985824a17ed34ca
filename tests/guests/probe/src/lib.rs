//! A guest for the integration tests: for every connection it sets a close callback and waits
//! in `read_until_close`, printing what happens on standard output, one line each:
//!
//! ```text
//! rest 127.0.0.1:5000 <the bytes read until close>
//! closed 127.0.0.1:5000
//! ```

use eddy_guest::{IOStream, TcpServer};

struct Probe;

impl TcpServer for Probe {
    async fn handle_stream(&self, stream: IOStream, address: String) {
        let peer = address.clone();
        stream.set_close_callback(move || eddy_guest::print(format!("closed {peer}\n").as_bytes()));
        match stream.read_until_close().await {
            Ok(rest) => eddy_guest::print(
                format!("rest {address} {}\n", String::from_utf8_lossy(&rest)).as_bytes(),
            ),
            Err(error) => eddy_guest::print(format!("error {address} {error}\n").as_bytes()),
        }
    }
}

fn main(_args: Vec<String>) -> Result<(), String> {
    eddy_guest::listen(Probe);
    Ok(())
}

eddy_guest::export!(main);
