//! Which cryptographic library Trent runs on, for `trent --version` and the start-up log:
//! AWS-LC through aws-lc-rs for every primitive it has (see the crate's documentation for
//! the few that come from elsewhere), and whether that library runs in FIPS mode.

/// The cryptographic provider of this build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provider {
    /// The linked AWS-LC's version, e.g. `5.12.0`.
    pub version: &'static str,
    /// Whether AWS-LC reports running in FIPS mode (only a FIPS build of it can).
    pub fips: bool,
}

impl Provider {
    /// Asks the linked library.
    pub fn current() -> Provider {
        Provider {
            version: aws_lc_rs::awslc_version(),
            fips: aws_lc_rs::try_fips_mode().is_ok(),
        }
    }
}

impl std::fmt::Display for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "AWS-LC {} (aws-lc-rs), FIPS mode {}",
            self.version,
            if self.fips { "on" } else { "off" }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_library_and_its_mode() {
        let p = Provider::current();
        assert!(p.version.split('.').count() >= 2, "{}", p.version);
        // This build does not link a FIPS module.
        assert!(!p.fips);
        assert_eq!(
            p.to_string(),
            format!("AWS-LC {} (aws-lc-rs), FIPS mode off", p.version)
        );
    }
}
