//! Placeholder for the demo venue seed (seeds nothing yet); the demo data lands next.
use crate::{domain::Role, engine::Engine};
pub struct DemoVenue {
    pub slug: String,
    pub name: String,
    pub logins: Vec<DemoLogin>,
}
pub struct DemoLogin {
    pub name: String,
    pub role: Role,
    pub pin: Option<&'static str>,
    pub username: Option<&'static str>,
    pub password: Option<&'static str>,
}
pub async fn seed_if_empty(_e: &Engine, _k: &[u8]) -> anyhow::Result<Option<DemoVenue>> {
    Ok(None)
}
