//! The generated contract checked against the model it came from, and the decoder against
//! AWS's recorded behaviour.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::*;

fn model() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../model/aws-kms-model/service-2.json"
    );
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
    serde_json::from_str(&text).unwrap()
}

fn decode<I: Input>(body: &str) -> Result<I, WireError> {
    I::from_json(body.as_bytes())
}

/// The message of a request that must fail validation.
fn invalid<I: Input + std::fmt::Debug>(body: &str) -> String {
    match decode::<I>(body) {
        Err(WireError::Validation(v)) => v.message(),
        other => panic!("expected a ValidationException for {body}, got {other:?}"),
    }
}

/// The message of a request that must fail deserialization.
fn malformed<I: Input + std::fmt::Debug>(body: &str) -> String {
    match decode::<I>(body) {
        Err(WireError::Serialization(m)) => m,
        other => panic!("expected a SerializationException for {body}, got {other:?}"),
    }
}

// ------------------------------------------------------------------ the model, complete

#[test]
fn every_operation_has_a_target_an_action_and_a_dispatch_row() {
    let model = model();
    let ops: BTreeSet<String> = model["operations"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    assert_eq!(ops.len(), 54);
    assert_eq!(Operation::ALL.len(), ops.len());
    for name in &ops {
        let op = Operation::from_target(&format!("TrentService.{name}"))
            .unwrap_or_else(|| panic!("{name}"));
        assert_eq!(op.name(), name);
        assert_eq!(op.target(), format!("TrentService.{name}"));
        assert_eq!(op.iam_action(), format!("kms:{name}"));
        assert_eq!(op.to_string(), *name);
    }
    assert_eq!(Operation::from_target("TrentService.createKey"), None);
    assert_eq!(Operation::from_target("CreateKey"), None);
    assert_eq!(Operation::from_target("TrentService.CreateKey "), None);

    let mut rows = Vec::new();
    macro_rules! row {
        ($op:ident, $req:ident, $resp:ident, $handler:ident) => {
            rows.push((
                Operation::$op,
                <$req as Input>::OPERATION,
                <$resp as Output>::OPERATION,
                stringify!($handler),
            ));
        };
    }
    for_each_operation!(row);
    assert_eq!(rows.len(), ops.len());
    for (op, input_op, output_op, handler) in rows {
        assert_eq!(op, input_op);
        // ListRetirableGrants answers with the model's ListGrantsResponse.
        if op != Operation::ListRetirableGrants {
            assert_eq!(op, output_op);
        }
        assert!(
            handler.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
            "{handler}"
        );
        assert_eq!(handler.replace('_', ""), op.name().to_ascii_lowercase());
    }
}

/// `GrantTokens` as the model has it: the operations whose input has the member say so,
/// and their decoded requests hand the tokens over; every other request has none.
#[test]
fn grant_tokens_follow_the_model() {
    let model = model();
    let mut with_tokens = Vec::new();
    for op in Operation::ALL {
        let input = model["operations"][op.name()]["input"]["shape"]
            .as_str()
            .unwrap();
        let in_model = model["shapes"][input]["members"]
            .as_object()
            .unwrap()
            .contains_key("GrantTokens");
        assert_eq!(op.takes_grant_tokens(), in_model, "{op}");
        if in_model {
            with_tokens.push(op.name());
        }
    }
    assert_eq!(with_tokens.len(), 15, "{with_tokens:?}");

    let body = r#"{"KeyId":"k","Plaintext":"aGk=","GrantTokens":["t1","t2"]}"#;
    let request = decode::<EncryptRequest>(body).unwrap();
    assert_eq!(
        request.grant_tokens(),
        Some(&["t1".to_owned(), "t2".to_owned()][..])
    );
    assert_eq!(
        decode::<EncryptRequest>(r#"{"KeyId":"k","Plaintext":"aGk="}"#)
            .unwrap()
            .grant_tokens(),
        None
    );
    // An operation without the member ignores one sent anyway.
    let request = decode::<DisableKeyRequest>(r#"{"KeyId":"k","GrantTokens":["t"]}"#).unwrap();
    assert_eq!(request.grant_tokens(), None);

    // The generated dispatch has an arm per operation, naming its types and handler.
    let mut arms = 0;
    for op in Operation::ALL {
        macro_rules! arm {
            ($op:ident, $req:ident, $resp:ident, $handler:ident) => {{
                assert_eq!(Operation::$op, *op);
                assert_eq!(<$req as Input>::OPERATION, *op);
                assert_eq!(
                    stringify!($handler).replace('_', ""),
                    op.name().to_ascii_lowercase()
                );
                arms += 1;
            }};
        }
        match_operation!(*op, arm);
    }
    assert_eq!(arms, Operation::ALL.len());
}

#[test]
fn read_only_operations_follow_cloudtrail() {
    for op in Operation::ALL {
        let name = op.name();
        if name.starts_with("Describe") || name.starts_with("Get") || name.starts_with("List") {
            assert!(op.is_read_only(), "{name}");
        }
    }
    assert!(Operation::Encrypt.is_read_only());
    assert!(Operation::GenerateDataKeyPairWithoutPlaintext.is_read_only());
    assert!(!Operation::CreateKey.is_read_only());
    assert!(!Operation::RetireGrant.is_read_only());
    assert!(!Operation::ScheduleKeyDeletion.is_read_only());
}

#[test]
fn every_exception_has_an_error_code() {
    let model = model();
    let shapes = model["shapes"].as_object().unwrap();
    let exceptions: Vec<(&String, &Value)> = shapes
        .iter()
        .filter(|(_, s)| s["exception"] == true)
        .collect();
    assert_eq!(exceptions.len(), 48);
    for (name, shape) in &exceptions {
        let code = ErrorCode::from_wire_name(name).unwrap_or_else(|| panic!("{name}"));
        assert_eq!(code.wire_name(), name.as_str());
        assert!(code.is_modeled());
        let status = code.http_status();
        if shape["fault"] == true {
            assert!(status >= 500, "{name}");
        } else {
            assert_eq!(status, 400, "{name}");
        }
    }
    assert_eq!(
        ErrorCode::ALL.iter().filter(|c| c.is_modeled()).count(),
        exceptions.len()
    );
    assert_eq!(ErrorCode::KMSInternalException.http_status(), 500);
    assert_eq!(ErrorCode::DependencyTimeoutException.http_status(), 503);
    assert_eq!(ErrorCode::KeyUnavailableException.http_status(), 500);
    assert_eq!(ErrorCode::NotFoundException.http_status(), 400);
    assert_eq!(ErrorCode::ValidationException.http_status(), 400);
    assert_eq!(ErrorCode::RequestEntityTooLargeException.http_status(), 413);
    assert!(!ErrorCode::UnrecognizedClientException.is_modeled());
    assert_eq!(
        ErrorCode::from_wire_name("com.amazonaws.kms#NotFoundException"),
        Some(ErrorCode::NotFoundException)
    );
    let names: BTreeSet<&str> = ErrorCode::ALL.iter().map(|c| c.wire_name()).collect();
    assert_eq!(names.len(), ErrorCode::ALL.len());
}

#[test]
fn every_enum_value_round_trips() {
    let model = model();
    let shapes = model["shapes"].as_object().unwrap();
    let generated: BTreeMap<&str, &generated::EnumEntry> =
        generated::ENUMS.iter().map(|e| (e.0, e)).collect();
    let mut count = 0;
    for (name, shape) in shapes {
        let Some(values) = shape["enum"].as_array() else {
            continue;
        };
        let (_, rust_values, parse) = generated
            .get(name.as_str())
            .unwrap_or_else(|| panic!("enum {name}"));
        let values: Vec<&str> = values.iter().map(|v| v.as_str().unwrap()).collect();
        assert_eq!(*rust_values, values.as_slice(), "{name}");
        for value in values {
            assert_eq!(parse(value), Some(value), "{name}: {value}");
        }
        assert_eq!(parse("NOT_A_VALUE"), None);
        count += 1;
    }
    assert_eq!(count, generated.len());
    assert_eq!(KeySpec::ALL.len(), KeySpec::VALUES.len());
    assert_eq!("ECC_NIST_P256".parse::<KeySpec>(), Ok(KeySpec::EccNistP256));
    assert_eq!("x".parse::<KeySpec>().unwrap_err().shape(), "KeySpec");
    assert_eq!(
        EncryptionAlgorithmSpec::RsaesOaepSha256.as_str(),
        "RSAES_OAEP_SHA_256"
    );
    assert_eq!(
        KeyState::PendingReplicaDeletion.to_string(),
        "PendingReplicaDeletion"
    );
    assert_eq!(KeySpec::MlDsa44.as_str(), "ML_DSA_44");
    assert_eq!(OriginType::AwsKms.as_str(), "AWS_KMS");
}

#[test]
fn every_reachable_structure_has_a_type() {
    let model = model();
    let shapes = model["shapes"].as_object().unwrap();
    let mut reachable = BTreeSet::new();
    let mut todo: Vec<String> = Vec::new();
    for op in model["operations"].as_object().unwrap().values() {
        for side in ["input", "output"] {
            if let Some(s) = op[side]["shape"].as_str() {
                todo.push(s.to_owned());
            }
        }
    }
    while let Some(name) = todo.pop() {
        let shape = &shapes[&name];
        match shape["type"].as_str().unwrap() {
            "structure" if reachable.insert(name.clone()) => {
                for m in shape["members"].as_object().unwrap().values() {
                    todo.push(m["shape"].as_str().unwrap().to_owned());
                }
            }
            "list" => todo.push(shape["member"]["shape"].as_str().unwrap().to_owned()),
            "map" => todo.push(shape["value"]["shape"].as_str().unwrap().to_owned()),
            _ => {}
        }
    }
    let generated: BTreeSet<&str> = generated::STRUCTS.iter().copied().collect();
    for name in &reachable {
        assert!(generated.contains(name.as_str()), "{name}");
    }
}

#[test]
fn every_pattern_compiles_and_reads_as_java_does() {
    for (text, pattern) in generated::PATTERNS {
        assert!(pattern.is_some(), "{text}");
    }
    let find = |text: &str| {
        generated::PATTERNS
            .iter()
            .find(|(t, _)| *t == text)
            .map(|(_, p)| *p)
            .unwrap_or_else(|| panic!("{text}"))
    };
    let alias = find("^[a-zA-Z0-9:/_-]+$");
    assert!(crate::validate::matches(alias, "alias/my_key-1"));
    assert!(!crate::validate::matches(alias, "alias/a b"));
    // `[\w]` is ASCII in Java.
    let policy_name = find("[\\w]+");
    assert!(crate::validate::matches(policy_name, "default"));
    assert!(!crate::validate::matches(policy_name, "défaut"));
    // Java reads `0-9-_` as a range, then a literal '-', then '_'.
    let xks_key_id = find("^[a-zA-Z0-9-_.]+$");
    assert!(crate::validate::matches(xks_key_id, "a-b_c.d"));
    assert!(!crate::validate::matches(xks_key_id, "a:b"));
    // `\u0009` escapes, and Java's `matches` anchoring of an unanchored pattern.
    let policy = find("[\\u0009\\u000A\\u000D\\u0020-\\u00FF]+");
    assert!(crate::validate::matches(
        policy,
        "{\n\t\"Version\": \"2012-10-17\"}"
    ));
    assert!(!crate::validate::matches(policy, "{\"Sid\": \"\u{0100}\"}"));
    let region = find("^([a-z]+-){2,3}\\d+$");
    assert!(crate::validate::matches(region, "us-gov-west-1"));
    assert!(!crate::validate::matches(region, "us-east-١"));
}

// -------------------------------------------------------------------- decoding: success

#[test]
fn a_valid_create_key_request_decodes() {
    let req: CreateKeyRequest = decode(
        r#"{"Description":"signing key","KeySpec":"ECC_NIST_P256","KeyUsage":"SIGN_VERIFY",
            "Tags":[{"TagKey":"team","TagValue":"infra"}],"MultiRegion":true,
            "BypassPolicyLockoutSafetyCheck":false}"#,
    )
    .unwrap();
    assert_eq!(req.description.as_deref(), Some("signing key"));
    assert_eq!(req.key_spec, Some(KeySpec::EccNistP256));
    assert_eq!(req.key_usage, Some(KeyUsageType::SignVerify));
    assert_eq!(
        req.tags,
        Some(vec![Tag {
            tag_key: "team".into(),
            tag_value: "infra".into()
        }])
    );
    assert_eq!(req.multi_region, Some(true));
    assert_eq!(req.bypass_policy_lockout_safety_check, Some(false));
    assert_eq!(req.policy, None);
    assert_eq!(<CreateKeyRequest as Input>::OPERATION, Operation::CreateKey);
}

#[test]
fn a_valid_encrypt_request_decodes() {
    let req: EncryptRequest = decode(
        r#"{"KeyId":"alias/app","Plaintext":"aGVsbG8=","EncryptionContext":{"tenant":"t-42"},
            "GrantTokens":["token"],"EncryptionAlgorithm":"SYMMETRIC_DEFAULT"}"#,
    )
    .unwrap();
    assert_eq!(req.key_id, "alias/app");
    assert_eq!(req.plaintext.expose(), b"hello");
    assert_eq!(
        req.encryption_context,
        Some(BTreeMap::from([("tenant".to_owned(), "t-42".to_owned())]))
    );
    assert_eq!(req.grant_tokens, Some(vec!["token".to_owned()]));
    assert_eq!(
        req.encryption_algorithm,
        Some(EncryptionAlgorithmSpec::SymmetricDefault)
    );
}

#[test]
fn an_empty_body_reads_as_an_empty_object() {
    assert_eq!(
        decode::<ListKeysRequest>("").unwrap(),
        ListKeysRequest::default()
    );
    assert_eq!(
        decode::<ListKeysRequest>(" \r\n").unwrap(),
        ListKeysRequest::default()
    );
    assert_eq!(
        invalid::<DescribeKeyRequest>(""),
        "1 validation error detected: Value null at 'keyId' failed to satisfy constraint: Member must not be null"
    );
}

#[test]
fn unknown_members_are_ignored() {
    let req: DescribeKeyRequest =
        decode(r#"{"KeyId":"k","Bogus":{"x":[1,2,{"y":null}]},"Other":7}"#).unwrap();
    assert_eq!(req.key_id, "k");
}

#[test]
fn null_members_are_absent() {
    let req: EncryptRequest =
        decode(r#"{"KeyId":"k","Plaintext":"AA==","GrantTokens":null,"DryRun":null}"#).unwrap();
    assert_eq!(req.grant_tokens, None);
    assert_eq!(req.dry_run, None);
    assert_eq!(
        invalid::<DescribeKeyRequest>(r#"{"KeyId":null}"#),
        "1 validation error detected: Value null at 'keyId' failed to satisfy constraint: Member must not be null"
    );
}

#[test]
fn timestamps_and_padding_free_base64_are_accepted() {
    let req: ImportKeyMaterialRequest = decode(
        r#"{"KeyId":"k","ImportToken":"AQID","EncryptedKeyMaterial":"AQ","ValidTo":1700000000.5,
            "ExpirationModel":"KEY_MATERIAL_EXPIRES"}"#,
    )
    .unwrap();
    assert_eq!(req.import_token, vec![1, 2, 3]);
    assert_eq!(req.encrypted_key_material, vec![1]);
    assert_eq!(
        req.valid_to,
        Some(Timestamp::from_millis(1_700_000_000_500))
    );
}

// ------------------------------------------------------------ decoding: ValidationException

#[test]
fn a_missing_key_id_is_reported() {
    assert_eq!(
        invalid::<DescribeKeyRequest>("{}"),
        "1 validation error detected: Value null at 'keyId' failed to satisfy constraint: Member must not be null"
    );
    assert_eq!(
        invalid::<GetPublicKeyRequest>(r#"{"KeyId":""}"#),
        "1 validation error detected: Value '' at 'keyId' failed to satisfy constraint: Member must have length \
         greater than or equal to 1"
    );
}

#[test]
fn a_missing_plaintext_is_reported_without_a_value() {
    // Sensitive members are never printed, not even as null (as AWS answers).
    assert_eq!(
        invalid::<EncryptRequest>(r#"{"KeyId":"k"}"#),
        "1 validation error detected: Value at 'plaintext' failed to satisfy constraint: Member must not be null"
    );
    assert_eq!(
        invalid::<EncryptRequest>(r#"{"KeyId":"k","Plaintext":""}"#),
        "1 validation error detected: Value at 'plaintext' failed to satisfy constraint: Member must have length \
         greater than or equal to 1"
    );
    let big = format!(
        r#"{{"KeyId":"k","Plaintext":"{}"}}"#,
        "A".repeat(4097 * 4 / 3 + 4)
    );
    assert_eq!(
        invalid::<EncryptRequest>(&big),
        "1 validation error detected: Value at 'plaintext' failed to satisfy constraint: Member must have length \
         less than or equal to 4096"
    );
    // Other blobs: no value when present, `null` when absent.
    assert_eq!(
        invalid::<VerifyRequest>(r#"{"KeyId":"k","Message":"AA==","SigningAlgorithm":"ECDSA_SHA_256"}"#),
        "1 validation error detected: Value null at 'signature' failed to satisfy constraint: Member must not be null"
    );
    assert_eq!(
        invalid::<DecryptRequest>(r#"{"CiphertextBlob":""}"#),
        "1 validation error detected: Value at 'ciphertextBlob' failed to satisfy constraint: Member must have \
         length greater than or equal to 1"
    );
}

#[test]
fn a_too_long_description_is_reported_whole() {
    let description = "d".repeat(8193);
    let message = invalid::<CreateKeyRequest>(&format!(r#"{{"Description":"{description}"}}"#));
    assert_eq!(
        message,
        format!(
            "1 validation error detected: Value '{description}' at 'description' failed to satisfy constraint: \
             Member must have length less than or equal to 8192"
        )
    );
    // Lengths count characters, not bytes.
    let accented = "é".repeat(8192);
    assert!(decode::<CreateKeyRequest>(&format!(r#"{{"Description":"{accented}"}}"#)).is_ok());
}

#[test]
fn number_of_bytes_out_of_range_is_reported() {
    // AWS's recorded responses to GenerateRandom with 0 and 1025.
    assert_eq!(
        invalid::<GenerateRandomRequest>(r#"{"NumberOfBytes":0}"#),
        "1 validation error detected: Value '0' at 'numberOfBytes' failed to satisfy constraint: Member must have \
         value greater than or equal to 1"
    );
    assert_eq!(
        invalid::<GenerateRandomRequest>(r#"{"NumberOfBytes":1025}"#),
        "1 validation error detected: Value '1025' at 'numberOfBytes' failed to satisfy constraint: Member must \
         have value less than or equal to 1024"
    );
    // Beyond an int, the value cannot be printed.
    assert_eq!(
        invalid::<GenerateRandomRequest>(r#"{"NumberOfBytes":99999999999}"#),
        "1 validation error detected: Value at 'numberOfBytes' failed to satisfy constraint: Member must have \
         value less than or equal to 1024"
    );
    assert_eq!(
        invalid::<GenerateRandomRequest>(r#"{"NumberOfBytes":-99999999999}"#),
        "1 validation error detected: Value at 'numberOfBytes' failed to satisfy constraint: Member must have \
         value greater than or equal to 1"
    );
    let ok: GenerateRandomRequest = decode(r#"{"NumberOfBytes":1024}"#).unwrap();
    assert_eq!(ok.number_of_bytes, Some(1024));
}

#[test]
fn an_unknown_enum_value_lists_the_set() {
    assert_eq!(
        invalid::<CreateKeyRequest>(r#"{"KeySpec":"HMAC_random"}"#),
        "1 validation error detected: Value 'HMAC_random' at 'keySpec' failed to satisfy constraint: Member must \
         satisfy enum value set: [RSA_2048, RSA_3072, RSA_4096, ECC_NIST_P256, ECC_NIST_P384, ECC_NIST_P521, \
         ECC_SECG_P256K1, SYMMETRIC_DEFAULT, HMAC_224, HMAC_256, HMAC_384, HMAC_512, SM2, ML_DSA_44, ML_DSA_65, \
         ML_DSA_87, ECC_NIST_EDWARDS25519]"
    );
    assert_eq!(
        invalid::<SignRequest>(r#"{"KeyId":"k","Message":"AA==","SigningAlgorithm":"ECDSA_SHA_256","MessageType":"FOO"}"#),
        "1 validation error detected: Value 'FOO' at 'messageType' failed to satisfy constraint: Member must \
         satisfy enum value set: [RAW, DIGEST, EXTERNAL_MU]"
    );
}

#[test]
fn an_alias_with_a_space_breaks_the_pattern() {
    assert_eq!(
        invalid::<CreateAliasRequest>(r#"{"AliasName":"alias/a b","TargetKeyId":"k"}"#),
        "1 validation error detected: Value 'alias/a b' at 'aliasName' failed to satisfy constraint: Member must \
         satisfy regular expression pattern: ^[a-zA-Z0-9:/_-]+$"
    );
}

#[test]
fn several_violations_are_reported_together_in_member_order() {
    let message = invalid::<CreateAliasRequest>("{}");
    assert!(
        message.starts_with("2 validation errors detected: "),
        "{message}"
    );
    assert_eq!(
        message,
        "2 validation errors detected: Value null at 'aliasName' failed to satisfy constraint: Member must not be \
         null; Value null at 'targetKeyId' failed to satisfy constraint: Member must not be null"
    );
    // Two constraints of one member.
    assert_eq!(
        invalid::<CreateAliasRequest>(r#"{"AliasName":"","TargetKeyId":"k"}"#),
        "2 validation errors detected: Value '' at 'aliasName' failed to satisfy constraint: Member must have \
         length greater than or equal to 1; Value '' at 'aliasName' failed to satisfy constraint: Member must \
         satisfy regular expression pattern: ^[a-zA-Z0-9:/_-]+$"
    );
}

#[test]
fn list_members_are_reported_with_aws_paths() {
    assert_eq!(
        invalid::<TagResourceRequest>(
            r#"{"KeyId":"k","Tags":[{"TagKey":"a"},{"TagKey":"","TagValue":"v"}]}"#
        ),
        "2 validation errors detected: Value null at 'tags.1.member.tagValue' failed to satisfy constraint: Member \
         must not be null; Value '' at 'tags.2.member.tagKey' failed to satisfy constraint: Member must have \
         length greater than or equal to 1"
    );
    let tokens: Vec<String> = (0..11).map(|i| format!("\"t{i}\"")).collect();
    assert_eq!(
        invalid::<DescribeKeyRequest>(&format!(r#"{{"KeyId":"k","GrantTokens":[{}]}}"#, tokens.join(","))),
        "1 validation error detected: Value '[t0, t1, t2, t3, t4, t5, t6, t7, t8, t9, t10]' at 'grantTokens' \
         failed to satisfy constraint: Member must have length less than or equal to 10"
    );
    assert_eq!(
        invalid::<UntagResourceRequest>(r#"{"KeyId":"k","TagKeys":["a",""]}"#),
        "1 validation error detected: Value '[a, ]' at 'tagKeys' failed to satisfy constraint: Member must satisfy \
         constraint: [Member must have length less than or equal to 128, Member must have length greater than or \
         equal to 1]"
    );
    let message = invalid::<CreateGrantRequest>(
        r#"{"KeyId":"k","GranteePrincipal":"arn:aws:iam::111122223333:role/r","Operations":["Encrypt","Fly"]}"#,
    );
    assert!(
        message.starts_with(
            "1 validation error detected: Value '[Encrypt, Fly]' at 'operations' failed to satisfy constraint: \
             Member must satisfy constraint: [Member must satisfy enum value set: [Decrypt, Encrypt,"
        ),
        "{message}"
    );
    let grant: CreateGrantRequest = decode(
        r#"{"KeyId":"k","GranteePrincipal":"arn:aws:iam::111122223333:role/r","Operations":["Encrypt","Decrypt"],
            "Constraints":{"EncryptionContextSubset":{"a":"b"}}}"#,
    )
    .unwrap();
    assert_eq!(
        grant.operations,
        vec![GrantOperation::Encrypt, GrantOperation::Decrypt]
    );
    assert_eq!(
        grant.constraints.unwrap().encryption_context_subset,
        Some(BTreeMap::from([("a".to_owned(), "b".to_owned())]))
    );
}

#[test]
fn nested_structures_are_reported_with_dotted_paths() {
    assert_eq!(
        invalid::<DecryptRequest>(r#"{"CiphertextBlob":"AA==","Recipient":{"KeyEncryptionAlgorithm":"RSA"}}"#),
        "1 validation error detected: Value 'RSA' at 'recipient.keyEncryptionAlgorithm' failed to satisfy \
         constraint: Member must satisfy enum value set: [RSAES_OAEP_SHA_256]"
    );
}

#[test]
fn sensitive_strings_are_never_echoed() {
    let message = invalid::<CreateCustomKeyStoreRequest>(
        r#"{"CustomKeyStoreName":"store","KeyStorePassword":"abc",
            "XksProxyAuthenticationCredential":{"AccessKeyId":"short!","RawSecretAccessKey":"not-the-secret"}}"#,
    );
    assert!(!message.contains("abc"), "{message}");
    assert!(!message.contains("short!"), "{message}");
    assert!(!message.contains("not-the-secret"), "{message}");
    assert!(
        message.contains(
            "Value at 'keyStorePassword' failed to satisfy constraint: Member must have length greater than or equal to 7"
        ),
        "{message}"
    );
    assert!(
        message.contains(
            "Value at 'xksProxyAuthenticationCredential.accessKeyId' failed to satisfy constraint: Member must have \
             length greater than or equal to 20"
        ),
        "{message}"
    );
    assert!(
        message.contains("Value at 'xksProxyAuthenticationCredential.rawSecretAccessKey' failed to satisfy constraint"),
        "{message}"
    );
    let ok: CreateCustomKeyStoreRequest =
        decode(r#"{"CustomKeyStoreName":"store","KeyStorePassword":"correct horse"}"#).unwrap();
    assert_eq!(
        ok.key_store_password.as_ref().map(|p| p.expose()),
        Some("correct horse")
    );
    assert!(!format!("{ok:?}").contains("correct horse"));
}

// --------------------------------------------------------- decoding: SerializationException

#[test]
fn wrong_json_types_are_serialization_errors() {
    assert_eq!(
        malformed::<GenerateRandomRequest>(r#"{"NumberOfBytes":"32"}"#),
        "STRING_VALUE can not be converted to an Integer"
    );
    assert_eq!(
        malformed::<GenerateRandomRequest>(r#"{"NumberOfBytes":true}"#),
        "TRUE_VALUE can not be converted to an Integer"
    );
    assert_eq!(
        malformed::<GenerateRandomRequest>(r#"{"NumberOfBytes":1.5}"#),
        ""
    );
    assert_eq!(
        malformed::<DescribeKeyRequest>(r#"{"KeyId":5}"#),
        "NUMBER_VALUE can not be converted to a String"
    );
    assert_eq!(
        malformed::<DescribeKeyRequest>(r#"{"KeyId":false}"#),
        "FALSE_VALUE can not be converted to a String"
    );
    assert_eq!(
        malformed::<DescribeKeyRequest>(r#"{"KeyId":["k"]}"#),
        "Start of list found where not expected"
    );
    assert_eq!(
        malformed::<DescribeKeyRequest>(r#"{"KeyId":{"k":1}}"#),
        "Start of structure or map found where not expected."
    );
    assert_eq!(
        malformed::<EncryptRequest>(r#"{"KeyId":"k","Plaintext":"AA==","DryRun":"yes"}"#),
        "STRING_VALUE can not be converted to a Boolean"
    );
    assert_eq!(
        malformed::<TagResourceRequest>(r#"{"KeyId":"k","Tags":"x"}"#),
        "Expected list or null"
    );
    assert_eq!(
        malformed::<TagResourceRequest>(r#"{"KeyId":"k","Tags":["x"]}"#),
        "Expected null"
    );
    assert_eq!(
        malformed::<EncryptRequest>(r#"{"KeyId":"k","Plaintext":"AA==","EncryptionContext":[]}"#),
        "Start of list found where not expected"
    );
    assert_eq!(
        malformed::<EncryptRequest>(
            r#"{"KeyId":"k","Plaintext":"AA==","EncryptionContext":{"a":1}}"#
        ),
        "NUMBER_VALUE can not be converted to a String"
    );
    // A type error wins over a constraint violation: decoding stops first.
    assert_eq!(
        malformed::<CreateAliasRequest>(r#"{"AliasName":7}"#),
        "NUMBER_VALUE can not be converted to a String"
    );
}

#[test]
fn bad_base64_is_a_serialization_error() {
    assert_eq!(
        malformed::<EncryptRequest>(r#"{"KeyId":"k","Plaintext":"not base64!"}"#),
        ""
    );
    assert_eq!(malformed::<DecryptRequest>(r#"{"CiphertextBlob":12}"#), "");
}

#[test]
fn a_body_that_is_not_a_json_object_is_a_serialization_error() {
    for body in [
        "{",
        "not json",
        "null",
        "\"x\"",
        "7",
        "{\"KeyId\":\"k\",}",
        "{\"KeyId\":\"k\"} trailing",
    ] {
        assert_eq!(malformed::<DescribeKeyRequest>(body), "", "{body}");
    }
    assert_eq!(
        malformed::<DescribeKeyRequest>("[]"),
        "Start of list found where not expected"
    );
    assert!(DescribeKeyRequest::from_json(&[0x7b, 0xff, 0x7d]).is_err());
}

// ------------------------------------------------------------------------ secrets

#[test]
fn debug_of_a_request_never_shows_the_plaintext() {
    // "secret-bytes"
    let req: EncryptRequest = decode(r#"{"KeyId":"k","Plaintext":"c2VjcmV0LWJ5dGVz"}"#).unwrap();
    let debug = format!("{req:?}");
    assert!(debug.contains("[REDACTED]"), "{debug}");
    assert!(!debug.contains("secret"), "{debug}");
    assert!(!debug.contains("c2VjcmV0"), "{debug}");
    assert!(!debug.contains("115, 101, 99"), "{debug}");
    let response = GenerateDataKeyResponse {
        plaintext: Some(SensitiveBlob::from(b"secret-bytes".to_vec())),
        ..Default::default()
    };
    assert!(!format!("{response:?}").contains("115, 101, 99"));
}

// ------------------------------------------------------------------------ encoding outputs

#[test]
fn key_metadata_serializes_as_aws_does() {
    let metadata = KeyMetadata {
        aws_account_id: Some("111122223333".into()),
        key_id: "1234abcd-12ab-34cd-56ef-1234567890ab".into(),
        creation_date: Some(Timestamp::from_millis(1_759_334_400_000)),
        enabled: Some(true),
        key_state: Some(KeyState::Enabled),
        key_spec: Some(KeySpec::SymmetricDefault),
        encryption_algorithms: Some(vec![EncryptionAlgorithmSpec::SymmetricDefault]),
        ..Default::default()
    };
    let json = serde_json::to_string(&DescribeKeyResponse {
        key_metadata: Some(metadata.clone()),
    })
    .unwrap();
    assert_eq!(
        json,
        r#"{"KeyMetadata":{"AWSAccountId":"111122223333","KeyId":"1234abcd-12ab-34cd-56ef-1234567890ab","CreationDate":1.7593344E9,"Enabled":true,"KeyState":"Enabled","KeySpec":"SYMMETRIC_DEFAULT","EncryptionAlgorithms":["SYMMETRIC_DEFAULT"]}}"#
    );
    let back: DescribeKeyResponse = serde_json::from_str(&json).unwrap();
    assert_eq!(back.key_metadata, Some(metadata));
}

#[test]
fn aws_responses_decode() {
    // A DescribeKey response as AWS sends it.
    let json = r#"{"KeyMetadata":{"AWSAccountId":"111111111111","Arn":"arn:aws:kms:us-east-1:111111111111:key/k",
        "CreationDate":1.681385370512E9,"CustomerMasterKeySpec":"SYMMETRIC_DEFAULT","Description":"test key 123",
        "Enabled":true,"EncryptionAlgorithms":["SYMMETRIC_DEFAULT"],"KeyId":"k","KeyManager":"CUSTOMER",
        "KeySpec":"SYMMETRIC_DEFAULT","KeyState":"Enabled","KeyUsage":"ENCRYPT_DECRYPT","MultiRegion":false,
        "Origin":"AWS_KMS"}}"#;
    let response: DescribeKeyResponse = serde_json::from_str(json).unwrap();
    let metadata = response.key_metadata.unwrap();
    assert_eq!(
        metadata.creation_date,
        Some(Timestamp::from_millis(1_681_385_370_512))
    );
    assert_eq!(metadata.origin, Some(OriginType::AwsKms));
    assert_eq!(metadata.multi_region, Some(false));
    assert_eq!(
        metadata.customer_master_key_spec,
        Some(CustomerMasterKeySpec::SymmetricDefault)
    );
}

#[test]
fn blobs_are_base64_and_empty_responses_are_empty_objects() {
    let response = DecryptResponse {
        key_id: Some("k".into()),
        plaintext: Some(SensitiveBlob::from(b"hello".to_vec())),
        encryption_algorithm: Some(EncryptionAlgorithmSpec::SymmetricDefault),
        ..Default::default()
    };
    assert_eq!(
        serde_json::to_string(&response).unwrap(),
        r#"{"KeyId":"k","Plaintext":"aGVsbG8=","EncryptionAlgorithm":"SYMMETRIC_DEFAULT"}"#
    );
    let encrypted = EncryptResponse {
        ciphertext_blob: Some(vec![0xfb, 0xff]),
        ..Default::default()
    };
    let json = serde_json::to_string(&encrypted).unwrap();
    assert_eq!(json, r#"{"CiphertextBlob":"+/8="}"#);
    assert_eq!(
        serde_json::from_str::<EncryptResponse>(&json).unwrap(),
        encrypted
    );
    assert_eq!(
        serde_json::to_string(&CreateAliasResponse {}).unwrap(),
        "{}"
    );
    assert_eq!(
        serde_json::to_string(&ListKeysResponse::default()).unwrap(),
        "{}"
    );
    assert_eq!(
        <CreateAliasResponse as Output>::OPERATION,
        Operation::CreateAlias
    );
}

#[test]
fn requests_serialize_for_clients() {
    let request = EncryptRequest {
        key_id: "k".into(),
        plaintext: SensitiveBlob::from(b"hi".to_vec()),
        encryption_context: None,
        grant_tokens: None,
        encryption_algorithm: None,
        dry_run: None,
    };
    let json = serde_json::to_string(&request).unwrap();
    assert_eq!(json, r#"{"KeyId":"k","Plaintext":"aGk="}"#);
    assert_eq!(decode::<EncryptRequest>(&json).unwrap(), request);
}
