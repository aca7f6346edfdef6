//! AWS managed keys (<https://docs.aws.amazon.com/kms/latest/developerguide/concepts.html#aws-managed-key>):
//! the keys of the predefined `alias/aws/<service>` aliases, which AWS makes on first use.
//!
//! - **Which aliases.** The fourteen AWS lists in every account and Region before any
//!   key exists (as an account's ListAliases shows them: `AliasName` and `AliasArn`, no
//!   `TargetKeyId`): [`PREDEFINED`]. They count toward no alias quota.
//! - **When the key is made.** On DescribeKey of the alias ("Amazon Web Services services
//!   use DescribeKey to create Amazon Web Services managed keys from a predefined Amazon
//!   Web Services alias with no key ID", DescribeKey's documentation), in one store
//!   transaction with its material, its rotation schedule and the alias (a node that
//!   loses the race uses the winner's key).
//! - **What it is.** A symmetric key with `KeyManager` `AWS`, AWS's description ("Default
//!   key that protects my ... when no other key is defined"), rotation every 365 days that
//!   cannot be turned off, and the key policy AWS gives such keys: the account's
//!   principals may use it only through the service (`kms:ViaService` =
//!   `<service>.<region>.amazonaws.com` and `kms:CallerAccount`), and read its metadata
//!   (`kms:Describe*`, `kms:Get*`, `kms:List*`) directly. Nobody may change it: the
//!   policy allows no management action, and the operations that would change it refuse
//!   an AWS managed key whatever the policy says ([`refuse_change`]).
//! - **AWS owned keys** are not in any account: Trent has none to show. A service that is
//!   asked for "an AWS owned key" uses its own key outside KMS; nothing of it is visible
//!   through this API, as on AWS.
//!
//! Where AWS's per-service details are not published (the policy's `Id`, and which
//! services' policies also allow `kms:CreateGrant`), Trent follows the policies AWS gave
//! the keys of real accounts where they are known (S3's `auto-s3-2` without CreateGrant;
//! Lambda's and EBS's with it) and the same shape for the others.

use std::sync::Arc;

use trent_policy::{Policy, PolicyKind};
use trent_store::{
    AliasRecord, KeyRecord, MaterialRecord, RotationSchedule, StoreError, Transaction,
};
use trent_wire::{KeyManagerType, KeySpec, KeyState, KeyUsageType, OriginType};

use crate::backend::KeyBackend;
use crate::error::internal;
use crate::ids::{new_key_arn, Forms, KeyRef};
use crate::keys::hex_encode;
use crate::keyspec::KeyKind;
use crate::rotation::DAY_MS;
use crate::{Caller, KeyService, KmsError};

/// AWS managed keys rotate every year (<https://docs.aws.amazon.com/kms/latest/developerguide/rotate-keys.html>).
pub(crate) const ROTATION_PERIOD_DAYS: i32 = 365;

/// A service with a predefined alias.
#[derive(Debug)]
pub(crate) struct ManagedService {
    /// `alias/aws/<name>`.
    pub alias_name: &'static str,
    /// What the key protects, in its description.
    protects: &'static str,
    /// The service's name in the policy statement's `Sid`.
    label: &'static str,
    /// The first label of `kms:ViaService` (`<via>.<region>.amazonaws.com`).
    via: &'static str,
    /// Whether the service may create grants on the key.
    grants: bool,
}

macro_rules! service {
    ($alias:literal, $protects:literal, $label:literal, $via:literal, $grants:literal) => {
        ManagedService {
            alias_name: $alias,
            protects: $protects,
            label: $label,
            via: $via,
            grants: $grants,
        }
    };
}

/// The predefined aliases, in ListAliases order (byte order of their names).
pub(crate) const PREDEFINED: [ManagedService; 14] = [
    service!(
        "alias/aws/acm",
        "ACM private keys",
        "AWS Certificate Manager",
        "acm",
        true
    ),
    service!(
        "alias/aws/dynamodb",
        "DynamoDB data",
        "Amazon DynamoDB",
        "dynamodb",
        true
    ),
    service!("alias/aws/ebs", "EBS volumes", "EBS", "ec2", true),
    service!(
        "alias/aws/elasticfilesystem",
        "EFS filesystems",
        "EFS",
        "elasticfilesystem",
        true
    ),
    service!(
        "alias/aws/es",
        "Elasticsearch data",
        "Amazon Elasticsearch Service",
        "es",
        true
    ),
    service!("alias/aws/glue", "Glue data", "AWS Glue", "glue", true),
    service!(
        "alias/aws/kinesisvideo",
        "Kinesis Video Streams media data",
        "Kinesis Video Streams",
        "kinesisvideo",
        true
    ),
    service!(
        "alias/aws/lambda",
        "Lambda functions",
        "AWS Lambda",
        "lambda",
        true
    ),
    service!("alias/aws/rds", "RDS database volumes", "RDS", "rds", true),
    service!(
        "alias/aws/redshift",
        "Redshift data",
        "Amazon Redshift",
        "redshift",
        true
    ),
    service!("alias/aws/s3", "S3 objects", "S3", "s3", false),
    service!(
        "alias/aws/secretsmanager",
        "Secrets Manager data",
        "AWS Secrets Manager",
        "secretsmanager",
        true
    ),
    service!("alias/aws/ssm", "SSM parameters", "SSM", "ssm", false),
    service!("alias/aws/xray", "X-Ray data", "AWS X-Ray", "xray", true),
];

/// The predefined alias `alias_name`, if it is one.
pub(crate) fn predefined(alias_name: &str) -> Option<&'static ManagedService> {
    PREDEFINED.iter().find(|s| s.alias_name == alias_name)
}

impl ManagedService {
    /// `<service>` of `alias/aws/<service>`.
    fn name(&self) -> &'static str {
        self.alias_name.trim_start_matches("alias/aws/")
    }

    /// AWS's description of the key.
    pub(crate) fn description(&self) -> String {
        format!(
            "Default key that protects my {} when no other key is defined",
            self.protects
        )
    }

    /// `kms:ViaService` of the service in `region`.
    pub(crate) fn via_service(&self, region: &str) -> String {
        format!("{}.{region}.amazonaws.com", self.via)
    }

    /// The key policy AWS gives the service's AWS managed key in `account` and `region`.
    pub(crate) fn policy(&self, account: &str, region: &str) -> String {
        let mut actions = vec![
            "kms:Encrypt",
            "kms:Decrypt",
            "kms:ReEncrypt*",
            "kms:GenerateDataKey*",
        ];
        if self.grants {
            actions.push("kms:CreateGrant");
        }
        actions.push("kms:DescribeKey");
        // In the layout of the policies AWS writes (as GetKeyPolicy returns them); the
        // account and Region are validated identifiers, nothing to escape.
        let actions = actions
            .iter()
            .map(|a| format!("\"{a}\""))
            .collect::<Vec<_>>()
            .join(", ");
        let (name, label, via) = (self.name(), self.label, self.via_service(region));
        format!(
            r#"{{
  "Version" : "2012-10-17",
  "Id" : "auto-{name}-1",
  "Statement" : [ {{
    "Sid" : "Allow access through {label} for all principals in the account that are authorized to use {label}",
    "Effect" : "Allow",
    "Principal" : {{
      "AWS" : "*"
    }},
    "Action" : [ {actions} ],
    "Resource" : "*",
    "Condition" : {{
      "StringEquals" : {{
        "kms:CallerAccount" : "{account}",
        "kms:ViaService" : "{via}"
      }}
    }}
  }}, {{
    "Sid" : "Allow direct access to key metadata to the account",
    "Effect" : "Allow",
    "Principal" : {{
      "AWS" : "arn:aws:iam::{account}:root"
    }},
    "Action" : [ "kms:Describe*", "kms:Get*", "kms:List*" ],
    "Resource" : "*"
  }} ]
}}"#
        )
    }
}

/// The actions that change a key, refused on an AWS managed key by [`refuse_change`].
pub(crate) const CHANGES: [&str; 19] = [
    "kms:PutKeyPolicy",
    "kms:EnableKey",
    "kms:DisableKey",
    "kms:ScheduleKeyDeletion",
    "kms:CancelKeyDeletion",
    "kms:EnableKeyRotation",
    "kms:DisableKeyRotation",
    "kms:RotateKeyOnDemand",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:UpdateKeyDescription",
    "kms:CreateAlias",
    "kms:UpdateAlias",
    "kms:DeleteAlias",
    "kms:ImportKeyMaterial",
    "kms:DeleteImportedKeyMaterial",
    "kms:GetParametersForImport",
    "kms:ReplicateKey",
    "kms:UpdatePrimaryRegion",
];

/// Refuses an operation that would change an AWS managed key, whatever its policy says,
/// as its policy refuses it: AccessDeniedException, "no resource-based policy allows"
/// the action (AWS's answer, since the policy of an AWS managed key allows no change and
/// cannot be changed). `action` is the IAM action, e.g. `kms:DisableKey`.
pub(crate) fn refuse_change(
    caller: &Caller,
    record: &KeyRecord,
    action: &str,
) -> Result<(), KmsError> {
    if record.key_manager == KeyManagerType::Aws {
        return Err(KmsError::AccessDenied {
            message: format!(
                "User: {} is not authorized to perform: {action} on resource: {} because no resource-based policy allows the {action} action",
                caller.principal.arn, record.arn
            ),
        });
    }
    Ok(())
}

impl KeyService {
    /// A service calling on a principal's behalf makes the AWS managed key of its own
    /// predefined alias on first use, as AWS services do (S3 with `alias/aws/s3` when the
    /// caller names no key): `input` names it, and `forms` takes aliases.
    pub(crate) async fn ensure_key_of_calling_service(
        &self,
        caller: &Caller,
        input: &str,
        forms: Forms,
    ) -> Result<(), KmsError> {
        let Some(via) = caller.attributes.via.as_deref() else {
            return Ok(());
        };
        if forms != Forms::KeyOrAlias {
            return Ok(());
        }
        match self.predefined_alias_named(caller, input) {
            Some(service) if service.via == via.name => {
                self.ensure_aws_managed_key(caller, service).await
            }
            _ => Ok(()),
        }
    }

    /// The predefined alias `input` names (its name, or its ARN in the caller's account
    /// and Region), if it does.
    pub(crate) fn predefined_alias_named(
        &self,
        caller: &Caller,
        input: &str,
    ) -> Option<&'static ManagedService> {
        match KeyRef::parse(input, Forms::KeyOrAlias).ok()? {
            KeyRef::AliasName(name) => predefined(&name),
            KeyRef::AliasArn {
                region,
                account,
                alias_name,
            } if account == caller.account_id().as_str() && region == caller.region.as_str() => {
                predefined(&alias_name)
            }
            _ => None,
        }
    }

    /// Makes the AWS managed key of the predefined alias `service` in the caller's
    /// account and Region, unless the alias has a key already (made here, or by another
    /// node meanwhile).
    pub(crate) async fn ensure_aws_managed_key(
        &self,
        caller: &Caller,
        service: &ManagedService,
    ) -> Result<(), KmsError> {
        let account = caller.account_id();
        let region = &caller.region;
        if self
            .cache
            .alias(account, region, service.alias_name)
            .is_some()
        {
            return Ok(());
        }
        if self
            .store
            .alias(account, region, service.alias_name)
            .await
            .map_err(internal("reading an alias"))?
            .is_some()
        {
            return Ok(());
        }
        let policy_text = service.policy(account, region);
        // Parsed as any key policy is, so that a policy that does not parse is never stored.
        let _: Arc<Policy> = Arc::new(Policy::parse(&policy_text, PolicyKind::KeyPolicy)?);
        let now = self.clock.now_millis();
        let backend = self.local_backend();
        let generated = backend
            .generate(KeyKind::of(KeySpec::SymmetricDefault))
            .await?;
        let key_id = uuid::Uuid::new_v4().hyphenated().to_string();
        let arn = new_key_arn(region, account, &key_id)?;
        let material_bytes = trent_crypto::random_array::<32>().map_err(internal("random"))?;
        let material_id = hex_encode(&material_bytes);
        let record = KeyRecord {
            key_id: key_id.clone(),
            account_id: account.to_owned(),
            region: region.clone(),
            arn: arn.clone(),
            version: 1,
            created_at: now,
            description: service.description(),
            key_spec: KeySpec::SymmetricDefault,
            key_usage: KeyUsageType::EncryptDecrypt,
            origin: OriginType::AwsKms,
            state: KeyState::Enabled,
            key_manager: KeyManagerType::Aws,
            custom_key_store_id: None,
            xks_key_id: None,
            deletion_date: None,
            pending_deletion_window_days: None,
            current_material_id: Some(material_id.clone()),
            multi_region: false,
            mrk_id: None,
            primary_region: None,
            tags: Vec::new(),
            policy: policy_text,
        };
        let material = MaterialRecord {
            key_id: key_id.clone(),
            sealed: backend.store_form(&arn, &material_id, &generated)?,
            material_id,
            created_at: now,
        };
        let mut create = Transaction::new("create_aws_managed_key");
        create
            .insert_key(record)
            .add_material(material)
            .push(trent_store::Write::SetRotationSchedule(RotationSchedule {
                key_id: key_id.clone(),
                enabled: true,
                period_days: ROTATION_PERIOD_DAYS,
                next_rotation_at: Some(now + i64::from(ROTATION_PERIOD_DAYS) * DAY_MS),
            }))
            .push(trent_store::Write::InsertAlias(AliasRecord {
                account_id: account.to_string(),
                region: region.to_string(),
                alias_name: service.alias_name.to_owned(),
                target_key_id: key_id,
                created_at: now,
                updated_at: now,
            }));
        match self.store.transact(&create).await {
            // Another node made it first: its key is the one.
            Ok(_) | Err(StoreError::AlreadyExists) => Ok(()),
            Err(e) => Err(internal("creating an AWS managed key")(e)),
        }
    }
}
