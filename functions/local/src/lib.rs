//! The adapters `landfall run` uses on a laptop, beside the cloud ones (landfall-aws): a
//! landing folder standing in for S3 and an alert file standing in for SNS.

mod alert_file;
mod folder;

pub use alert_file::AlertFile;
pub use folder::LocalFolder;
