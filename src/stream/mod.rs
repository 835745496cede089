//! The transport-independent part of a connection: Node's stream semantics
//! over any byte stream the loop can poll (read path, write path,
//! end/finish, destroy/close, timeouts, events), and the server that
//! accepts such streams. What is specific to a transport (addresses,
//! socket options, how to bind and connect) lives in `crate::transport`
//! and the transport's own module (`crate::tcp`).

pub(crate) mod server;
pub(crate) mod socket;
