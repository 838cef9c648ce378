//! Sessions and their append-only event log (SQLite, PostgreSQL).
