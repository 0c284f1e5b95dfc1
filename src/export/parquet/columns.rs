//! A page's rows into Arrow arrays.
