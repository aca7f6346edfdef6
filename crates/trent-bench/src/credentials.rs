//! Where the load generator's credentials come from, in the AWS CLI's order: explicit
//! flags or the `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` / `AWS_SESSION_TOKEN`
//! environment variables, else one profile of the shared credentials file
//! (`--credentials-file`, `AWS_SHARED_CREDENTIALS_FILE`, else `~/.aws/credentials`).
//!
//! <https://docs.aws.amazon.com/cli/latest/userguide/cli-configure-files.html>
//!
//! Error messages name files, profiles, fields and line numbers, never a value read from
//! the file: any line of it may hold a secret.

use std::path::{Path, PathBuf};

use trent_sigv4::{Credentials, SecretKey};

const ACCESS_KEY_ID: &str = "aws_access_key_id";
const SECRET_ACCESS_KEY: &str = "aws_secret_access_key";
const SESSION_TOKEN: &str = "aws_session_token";

/// Why no usable credentials were found.
#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    #[error(
        "an access key id and a secret access key go together: give both \
         (--access-key-id/--secret-access-key or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY) or neither"
    )]
    Incomplete,
    #[error("cannot read credentials file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "credentials file {path}, line {line}: expected '[profile]', 'key = value', a comment or a blank line"
    )]
    Syntax { path: PathBuf, line: usize },
    #[error("credentials file {path} has no profile [{profile}]")]
    ProfileNotFound { path: PathBuf, profile: String },
    #[error("profile [{profile}] of credentials file {path} has no {field}")]
    MissingField {
        path: PathBuf,
        profile: String,
        field: &'static str,
    },
    #[error(
        "no credentials: pass --access-key-id/--secret-access-key, set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, \
         or name a credentials file with --credentials-file or AWS_SHARED_CREDENTIALS_FILE"
    )]
    NotFound,
}

/// The places credentials may come from, already read from flags and environment.
pub struct CredentialSources<'a> {
    pub access_key_id: Option<&'a str>,
    pub secret_access_key: Option<&'a str>,
    /// Only used with the explicit access key: a profile carries its own token.
    pub session_token: Option<&'a str>,
    pub profile: &'a str,
    pub credentials_file: Option<&'a Path>,
    /// Where `~/.aws/credentials` is looked for when no file is named.
    pub home: Option<&'a Path>,
}

/// Resolves credentials from `sources`, explicit keys first.
pub fn resolve(sources: &CredentialSources<'_>) -> Result<Credentials, CredentialsError> {
    match (sources.access_key_id, sources.secret_access_key) {
        (Some(id), Some(secret)) => {
            return Ok(Credentials {
                access_key_id: id.to_owned(),
                secret_access_key: SecretKey::new(secret),
                session_token: sources
                    .session_token
                    .filter(|t| !t.is_empty())
                    .map(str::to_owned),
            })
        }
        (Some(_), None) | (None, Some(_)) => return Err(CredentialsError::Incomplete),
        (None, None) => {}
    }
    let path = match (sources.credentials_file, sources.home) {
        (Some(path), _) => path.to_path_buf(),
        (None, Some(home)) => {
            let default = home.join(".aws").join("credentials");
            if !default.is_file() {
                return Err(CredentialsError::NotFound);
            }
            default
        }
        (None, None) => return Err(CredentialsError::NotFound),
    };
    let text = std::fs::read_to_string(&path).map_err(|source| CredentialsError::Read {
        path: path.clone(),
        source,
    })?;
    parse_credentials_file(&path, &text, sources.profile)
}

/// Reads profile `profile` out of the INI text of a shared credentials file.
///
/// Sections are `[name]` (`[profile name]`, the config-file spelling, is accepted too);
/// `#` and `;` start comment lines; keys are case-insensitive; a section given twice is
/// merged, later values winning, as the AWS CLI's parser does.
pub fn parse_credentials_file(
    path: &Path,
    text: &str,
    profile: &str,
) -> Result<Credentials, CredentialsError> {
    let mut in_section: Option<bool> = None; // None: before the first section header
    let mut found = false;
    let mut access_key_id = None;
    let mut secret_access_key = None;
    let mut session_token = None;
    for (index, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        let syntax = || CredentialsError::Syntax {
            path: path.to_path_buf(),
            line: index + 1,
        };
        if let Some(header) = line.strip_prefix('[') {
            let name = header.strip_suffix(']').ok_or_else(syntax)?.trim();
            let name = name.strip_prefix("profile ").map(str::trim).unwrap_or(name);
            let matches = name == profile;
            found |= matches;
            in_section = Some(matches);
            continue;
        }
        let (key, value) = line.split_once('=').ok_or_else(syntax)?;
        match in_section {
            None => return Err(syntax()),
            Some(false) => continue,
            Some(true) => {}
        }
        let value = value.trim();
        match key.trim().to_ascii_lowercase().as_str() {
            ACCESS_KEY_ID => access_key_id = Some(value.to_owned()),
            SECRET_ACCESS_KEY => secret_access_key = Some(value.to_owned()),
            SESSION_TOKEN => session_token = Some(value.to_owned()),
            _ => {}
        }
    }
    if !found {
        return Err(CredentialsError::ProfileNotFound {
            path: path.to_path_buf(),
            profile: profile.to_owned(),
        });
    }
    let missing = |field| CredentialsError::MissingField {
        path: path.to_path_buf(),
        profile: profile.to_owned(),
        field,
    };
    let access_key_id = access_key_id
        .filter(|v| !v.is_empty())
        .ok_or_else(|| missing(ACCESS_KEY_ID))?;
    let secret_access_key = secret_access_key
        .filter(|v| !v.is_empty())
        .ok_or_else(|| missing(SECRET_ACCESS_KEY))?;
    Ok(Credentials {
        access_key_id,
        secret_access_key: SecretKey::new(secret_access_key),
        session_token: session_token.filter(|v| !v.is_empty()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "\
# a comment
; another comment

[default]
aws_access_key_id = AKIDDEFAULT
aws_secret_access_key=defaultsecret/with+chars=
[ci]
  AWS_ACCESS_KEY_ID = AKIDCI
  aws_secret_access_key = cisecret
  aws_session_token = citoken
region = ignored
[profile staging]
aws_access_key_id = AKIDSTAGING
aws_secret_access_key = stagingsecret
[partial]
aws_access_key_id = AKIDPARTIAL
[default]
aws_session_token = latetoken
";

    fn parse(profile: &str) -> Result<Credentials, CredentialsError> {
        parse_credentials_file(Path::new("/creds"), FILE, profile)
    }

    #[test]
    fn reads_the_named_profile() {
        let c = parse("ci").unwrap();
        assert_eq!(c.access_key_id, "AKIDCI");
        assert_eq!(c.secret_access_key.expose(), "cisecret");
        assert_eq!(c.session_token.as_deref(), Some("citoken"));
    }

    #[test]
    fn merges_repeated_sections_and_keeps_values_with_equals_signs() {
        let c = parse("default").unwrap();
        assert_eq!(c.access_key_id, "AKIDDEFAULT");
        assert_eq!(c.secret_access_key.expose(), "defaultsecret/with+chars=");
        assert_eq!(c.session_token.as_deref(), Some("latetoken"));
    }

    #[test]
    fn accepts_the_config_file_profile_spelling() {
        let c = parse("staging").unwrap();
        assert_eq!(c.access_key_id, "AKIDSTAGING");
        assert_eq!(c.session_token, None);
    }

    #[test]
    fn reports_a_missing_profile_or_field() {
        assert!(matches!(
            parse("nope"),
            Err(CredentialsError::ProfileNotFound { profile, .. }) if profile == "nope"
        ));
        assert!(matches!(
            parse("partial"),
            Err(CredentialsError::MissingField {
                field: SECRET_ACCESS_KEY,
                ..
            })
        ));
    }

    #[test]
    fn syntax_errors_name_the_line_but_not_its_content() {
        let text = "[default]\naws_access_key_id = A\nthis-is-a-secret-without-equals\n";
        let err = parse_credentials_file(Path::new("/c"), text, "default").unwrap_err();
        assert!(matches!(err, CredentialsError::Syntax { line: 3, .. }));
        assert!(!err.to_string().contains("this-is-a-secret"));

        let err =
            parse_credentials_file(Path::new("/c"), "k = v\n[default]\n", "default").unwrap_err();
        assert!(matches!(err, CredentialsError::Syntax { line: 1, .. }));

        let err = parse_credentials_file(Path::new("/c"), "[default\n", "default").unwrap_err();
        assert!(matches!(err, CredentialsError::Syntax { line: 1, .. }));
    }

    fn sources<'a>() -> CredentialSources<'a> {
        CredentialSources {
            access_key_id: None,
            secret_access_key: None,
            session_token: None,
            profile: "default",
            credentials_file: None,
            home: None,
        }
    }

    #[test]
    fn explicit_keys_win_and_come_in_pairs() {
        let s = CredentialSources {
            access_key_id: Some("AKIDFLAG"),
            secret_access_key: Some("flagsecret"),
            session_token: Some("tok"),
            credentials_file: Some(Path::new("/does/not/exist")),
            ..sources()
        };
        let c = resolve(&s).unwrap();
        assert_eq!(c.access_key_id, "AKIDFLAG");
        assert_eq!(c.secret_access_key.expose(), "flagsecret");
        assert_eq!(c.session_token.as_deref(), Some("tok"));

        let s = CredentialSources {
            access_key_id: Some("AKIDFLAG"),
            ..sources()
        };
        assert!(matches!(resolve(&s), Err(CredentialsError::Incomplete)));
        let s = CredentialSources {
            secret_access_key: Some("x"),
            ..sources()
        };
        assert!(matches!(resolve(&s), Err(CredentialsError::Incomplete)));
    }

    #[test]
    fn falls_back_to_the_file_then_to_home() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_path_buf();
        std::fs::create_dir_all(dir.join(".aws")).unwrap();
        let file = dir.join(".aws").join("credentials");
        std::fs::write(&file, FILE).unwrap();

        let s = CredentialSources {
            profile: "ci",
            credentials_file: Some(&file),
            ..sources()
        };
        assert_eq!(resolve(&s).unwrap().access_key_id, "AKIDCI");

        let s = CredentialSources {
            home: Some(&dir),
            ..sources()
        };
        assert_eq!(resolve(&s).unwrap().access_key_id, "AKIDDEFAULT");

        let s = CredentialSources {
            home: Some(Path::new("/nonexistent-home")),
            ..sources()
        };
        assert!(matches!(resolve(&s), Err(CredentialsError::NotFound)));
        assert!(matches!(
            resolve(&sources()),
            Err(CredentialsError::NotFound)
        ));

        let s = CredentialSources {
            credentials_file: Some(Path::new("/nonexistent/credentials")),
            ..sources()
        };
        assert!(matches!(resolve(&s), Err(CredentialsError::Read { .. })));
    }
}
