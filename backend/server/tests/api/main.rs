//! End-to-end tests of the real app over HTTP and WebSockets, on SQLite or Postgres
//! (see crm-testkit). One binary, many modules, like crates.io's test suite.
#![allow(clippy::unwrap_used)]

mod asterisk_calls;
mod asterisk_config;
mod asterisk_failures;
mod asterisk_own;
mod asterisk_servers;
mod auth;
mod calls;
mod cards;
mod cli;
mod crash;
mod customers;
mod dashboard;
mod files;
mod http;
mod inbox;
mod inbox_crash;
mod integrations;
mod kerio_nat;
mod retention;
mod rls;
mod sip_edge;
mod subscriptions;
mod telephony;
mod tenancy;
mod tokens;
mod trunk_registration;
mod two_processes;
mod users;
