//! The built-in SIP edge.
