-- Trent store schema, version 3: each key's key policy (its only policy, named `default`),
-- the JSON document exactly as CreateKey or PutKeyPolicy gave it (GetKeyPolicy returns it
-- byte for byte). The key service parses it; the store only keeps the text.
--
-- Keys created before this version had AWS's default key policy of their account; it is
-- written out here, byte for byte as `trent_policy::default_key_policy` formats it, so that
-- every key row holds its real policy and no reader has to special-case a missing one.
-- `||` concatenates text in both SQLite and PostgreSQL; the literal's line breaks are
-- part of the document.
ALTER TABLE keys ADD COLUMN policy TEXT NOT NULL DEFAULT '';

UPDATE keys SET policy = '{
  "Version" : "2012-10-17",
  "Id" : "key-default-1",
  "Statement" : [ {
    "Sid" : "Enable IAM User Permissions",
    "Effect" : "Allow",
    "Principal" : {
      "AWS" : "arn:aws:iam::' || account_id || ':root"
    },
    "Action" : "kms:*",
    "Resource" : "*"
  } ]
}';
