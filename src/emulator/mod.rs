//! The local stand-in server for the API (being written).
