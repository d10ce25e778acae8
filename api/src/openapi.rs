//! The OpenAPI document: generated from the route builder and the schema types, served as JSON.

use axum::body::Bytes;
use utoipa::OpenApi;

/// Static parts of the document; paths and schemas come from the routes themselves.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Loam",
        description = "Backend for environmental sensor networks; a wire-compatible successor to the ENTS backend.",
        license(name = "MIT")
    ),
    tags(
        (name = "health", description = "Liveness, readiness and the ENTS health check"),
        (name = "cells", description = "Deployment sites and their metadata"),
        (name = "docs", description = "This document and its viewer"),
        (name = "auth", description = "Accounts and sessions"),
        (name = "users", description = "The current user and their API key"),
        (name = "admin", description = "User administration and its audit trail (administrators only)"),
        (name = "loggers", description = "Field devices and their device keys"),
        (name = "tags", description = "Labels on cells"),
        (name = "sharing", description = "Cell members"),
        (name = "ingest", description = "Device uploads"),
        (name = "series", description = "Time-series reads"),
        (name = "jobs", description = "Long-running work: exports and their artifacts"),
        (name = "opendata", description = "Monthly open data of public cells"),
        (name = "insights", description = "Data availability, sensor catalog, equation validation"),
        (name = "devices", description = "Enrolment, upload receipts and quotas of field devices"),
        (name = "firmware", description = "Firmware images: publishing, assignment and download"),
        (name = "field", description = "Field operations: device health, alert rules and their deliveries"),
    ),
    modifiers(&SecuritySchemes)
)]
pub(crate) struct BaseDoc;

/// Declares the two ways to authenticate that route classes refer to.
struct SecuritySchemes;

impl utoipa::Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{
            ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme,
        };
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-API-Key"))),
        );
    }
}

/// The finished document, serialised once at start-up and shared by the docs handlers.
#[derive(Clone)]
pub struct SpecDocument(Bytes);

impl SpecDocument {
    /// Serialises the document once.
    pub(crate) fn new(mut spec: utoipa::openapi::OpenApi) -> Self {
        spec.info.version = env!("CARGO_PKG_VERSION").to_owned();
        let json = spec.to_json().unwrap_or_else(|_| "{}".to_owned());
        Self(Bytes::from(json))
    }

    /// The JSON text (a cheap reference-counted copy).
    pub(crate) fn json(&self) -> Bytes {
        self.0.clone()
    }
}
