-- Landfall on Snowflake: run once per environment as ACCOUNTADMIN (or a role with CREATE
-- INTEGRATION, CREATE ROLE, CREATE USER and CREATE DATABASE), in Snowsight or with
-- `snowsql -f infra/snowflake/setup.sql`. Replace the <…> values first:
--   <landing-bucket>   the LandingBucketName output of `sam deploy`
--   <stage-role-arn>   the SnowflakeStageRoleArn output (after the second deploy, see README)
--   <rsa-public-key>   the public half of the service user's key pair, without the PEM lines
-- The pipeline itself only ever runs as LANDFALL_PIPELINE; BI tools read as LANDFALL_READER.

use role accountadmin;

-- Compute: small, suspended when idle. The pipeline's statements run on it.
create warehouse if not exists landfall_wh
  warehouse_size = xsmall auto_suspend = 60 auto_resume = true initially_suspended = true
  statement_timeout_in_seconds = 3600;

create database if not exists landfall;
create schema if not exists landfall.raw;      -- the landed files, every column as text
create schema if not exists landfall.audit;    -- runs, test results, loads, publishes
create schema if not exists landfall.archive;  -- every published mart version, for rollback
create schema if not exists landfall.marts;    -- what BI tools read (replaced by SWAP on publish)
-- build_staging, build_intermediate, build_marts and marts__landfall_next are created by the
-- pipeline itself (its role owns the database's schemas it creates).

-- Roles: the pipeline's (owns what it builds) and the readers' (published marts only).
create role if not exists landfall_pipeline;
create role if not exists landfall_reader;
grant role landfall_pipeline to role sysadmin;
grant role landfall_reader to role sysadmin;

grant usage, operate on warehouse landfall_wh to role landfall_pipeline;
grant usage on warehouse landfall_wh to role landfall_reader;
grant usage, create schema on database landfall to role landfall_pipeline;
grant ownership on schema landfall.raw to role landfall_pipeline copy current grants;
grant ownership on schema landfall.audit to role landfall_pipeline copy current grants;
grant ownership on schema landfall.archive to role landfall_pipeline copy current grants;
grant ownership on schema landfall.marts to role landfall_pipeline copy current grants;

-- Readers see the published marts. A schema swap moves the schema object (and its grants)
-- under the other name, so readers are granted on both names and on future tables in the
-- database; the clone that becomes `marts` copies the grants of its tables.
grant usage on database landfall to role landfall_reader;
grant usage on schema landfall.marts to role landfall_reader;
grant select on all tables in schema landfall.marts to role landfall_reader;
grant select on future tables in database landfall to role landfall_reader;

-- The service user: key-pair authentication (password logins for service users are being
-- retired). Generate the pair with
--   openssl genrsa 2048 | openssl pkcs8 -topk8 -inform PEM -out landfall_key.p8 -nocrypt
--   openssl rsa -in landfall_key.p8 -pubout -out landfall_key.pub
-- and store landfall_key.p8 in SSM as /landfall/<env>/snowflake/private_key (SecureString).
create user if not exists landfall_svc
  type = service
  default_role = landfall_pipeline
  default_warehouse = landfall_wh
  default_namespace = landfall.raw
  rsa_public_key = '<rsa-public-key>';
grant role landfall_pipeline to user landfall_svc;

-- Snowflake reads the landing bucket itself: a storage integration that assumes the IAM role
-- the SAM template creates (SnowflakeStageRole). After creating it, run
--   desc integration landfall_landing;
-- and pass STORAGE_AWS_IAM_USER_ARN and STORAGE_AWS_EXTERNAL_ID to `sam deploy` as
-- SnowflakeIamUserArn and SnowflakeExternalId.
create storage integration if not exists landfall_landing
  type = external_stage
  storage_provider = 's3'
  enabled = true
  storage_aws_role_arn = '<stage-role-arn>'
  storage_allowed_locations = ('s3://<landing-bucket>/landing/');
grant usage on integration landfall_landing to role landfall_pipeline;

use role landfall_pipeline;
use warehouse landfall_wh;

-- No named file format: every COPY carries its file's format inline, from the landing
-- contract's dialect in the SQL project (delimiter, quote, escape, header row; fields optionally
-- quoted, empty strings kept, nothing read as null, a record with another field count an error,
-- UTF-8). See functions/snowflake/src/sql.rs (csv_format).

-- The external stage over the landing prefix: COPY INTO reads @raw.landing/<batch>/<file>.csv.
create stage if not exists landfall.raw.landing
  url = 's3://<landing-bucket>/landing/'
  storage_integration = landfall_landing;
