//! How the runtime reaches a stream: [`StreamInner`] as the runtime's
//! [`StreamEvents`](runtime::StreamEvents).

use super::inner::StreamInner;
use crate::host::{SocketError, TlsInfo};
use crate::runtime;

impl runtime::StreamEvents for StreamInner {
    fn on_received(&mut self, bytes: Vec<u8>) {
        StreamInner::on_received(self, bytes);
    }

    fn on_end_of_stream(&mut self) {
        StreamInner::on_end_of_stream(self);
    }

    fn on_failed(&mut self, error: SocketError) {
        StreamInner::on_failed(self, error);
    }

    fn on_writable(&mut self) {
        StreamInner::on_writable(self);
    }

    fn on_connected(&mut self) {
        StreamInner::on_connected(self);
    }

    fn on_secured(&mut self, tls: TlsInfo) {
        StreamInner::on_secured(self, tls);
    }

    fn flush(&mut self) {
        StreamInner::flush(self);
    }

    fn sync_read_interest(&mut self) {
        StreamInner::sync_read_interest(self);
    }
}
