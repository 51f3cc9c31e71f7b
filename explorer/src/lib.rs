//! The taglog explorer: read-only HTML pages of one log, rendered from what the server's read
//! layer gives.
//!
//! Pages (all under the prefix the server mounts them at, `/explore`):
//! - `/` the checkpoint and a search box; `/search?q=` refs, repositories and publisher keys
//!   by prefix;
//! - `/tag?ref=&cursor=` a tag's timeline (every version with digest, publisher key, publisher
//!   time, log index, log time; withdrawals; the binding current as of the shown checkpoint
//!   marked), the newest [`limits::TIMELINE_PAGE`] versions first and the others on older
//!   pages (`cursor`: the version a page starts at), and a link to its `/lookup` bundle for
//!   `taglog verify --bundle`;
//! - `/repo?name=` a repository's tags; `/publisher?key=&cursor=` what one key bound.
//!
//! A tag page also carries its proofs (the `/lookup` bundle and the `/history` entries) as JSON
//! and a form that checks them in the browser ([`VERIFY_JS`], [`VERIFY_WASM`]) against keys the
//! reader pastes or the policy file they load.
//!
//! Every page is plain HTML with its CSS inline: no external asset, readable without
//! JavaScript and on a phone. Every text from the log or the query is escaped. Bad queries
//! are [`PageError`]s with a 4xx status, rendered by [`error_page`]. No I/O, no clock (`now`
//! is an argument): the server does the reading.

pub mod index;
pub mod pages;
pub mod query;

mod html;

pub use index::{Index, Timeline};
pub use pages::{
    error_page, home_page, publisher_page, repo_page, search_page, tag_page, Head, Site,
};

/// The in-browser verifier's script, served at `<base>/verify.js`.
pub const VERIFY_JS: &str = include_str!("verify.js");
/// The in-browser verifier (`explorer/wasm` built for `wasm32-unknown-unknown` by the build
/// script), served at `<base>/verify.wasm`.
pub const VERIFY_WASM: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/verify.wasm"));

/// Limits of the listings.
pub mod limits {
    /// Most results of one search.
    pub const SEARCH_RESULTS: usize = 100;
    /// Most versions on one tag page: a tag page shows the newest ones, the older ones are
    /// a link away (`cursor`). One log `/history` page's worth: the page costs one read of
    /// proofs, and the size of the page and of what the browser verifies stays bounded
    /// however many versions a tag has.
    pub const TIMELINE_PAGE: usize = 100;
    /// Most bindings on one publisher page.
    pub const PUBLISHER_PAGE: usize = 500;
    /// Most tags listed on one repository page.
    pub const REPO_TAGS: usize = 1000;
}

/// A page that cannot be shown, with the HTTP status to answer and a plain-words reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{title}: {detail}")]
pub struct PageError {
    /// The HTTP status (4xx for bad requests, 5xx for the server's faults).
    pub status: u16,
    /// A short title.
    pub title: &'static str,
    /// What was wrong and what to do.
    pub detail: String,
}

impl PageError {
    /// 400: the request is malformed.
    #[must_use]
    pub fn bad_request(detail: String) -> PageError {
        PageError {
            status: 400,
            title: "Bad request",
            detail,
        }
    }

    /// 414: a query or value is over its limit.
    #[must_use]
    pub fn too_long(detail: String) -> PageError {
        PageError {
            status: 414,
            title: "Query too long",
            detail,
        }
    }

    /// 404: no such page or nothing logged.
    #[must_use]
    pub fn not_found(detail: String) -> PageError {
        PageError {
            status: 404,
            title: "Not found",
            detail,
        }
    }

    /// Any status with its title (for the server's own errors).
    #[must_use]
    pub fn other(status: u16, title: &'static str, detail: String) -> PageError {
        PageError {
            status,
            title,
            detail,
        }
    }
}
