//! The Telegram bot's pure parts (`telegram.md` §2–§6): Bot API update parsing, callback
//! data, and the JSON bodies of every call the bot makes (`getUpdates`, `sendMessage`,
//! `answerCallbackQuery`, `editMessageText`), plus the session/agent name helpers of
//! `push.md` §5.4.
//!
//! Left out: all IO (the reactor's outbound client performs the calls), the clock, the
//! polling/retry state machine, the `users` lookups and the RPC to the CLI (the hub decides
//! what to send). The Mini App `initData` check lives in `auth` (`telegram.md` §7).
//!
//! ```text
//! getUpdates reply --parse_updates--> [(update_id, BotInput)]
//!   Command  -> start_reply / app_reply                      -> sendMessage
//!   Callback -> parse_callback -> hub (binding, session, RPC) -> answer_callback
//!                                                             -> edit_after_decision
//! hub notification -> permission_message / ready_message     -> sendMessage
//! ```
//!
//! Lengths follow upstream (JavaScript): counted in UTF-16 code units, but strings are only
//! ever cut at character boundaries. No function here panics on any input.

mod callback;
mod render;
mod update;
mod url;

pub use callback::{
    ANSWER_APPROVED, ANSWER_DENIED, ANSWER_ERROR, ANSWER_NOT_BOUND, ANSWER_REQUEST_NOT_FOUND,
    ANSWER_SESSION_INACTIVE, ANSWER_SESSION_NOT_FOUND, ANSWER_UNKNOWN_ACTION, Action, CallbackData,
    answer_callback, callback_data, edit_after_decision, parse_callback,
};
pub use render::{
    MAX_TEXT_UTF16, agent_name, app_reply, first_request, permission_message, permission_text,
    ready_message, session_name, start_reply,
};
pub use update::{
    BotInput, Command, api_error, confirm_updates_body, get_updates_body, parse_update,
    parse_updates, update_id,
};
pub use url::deep_link;
