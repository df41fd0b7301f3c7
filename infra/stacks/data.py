"""The data stack: what outlives a redeploy of the engine.

* ``RecordsTable`` -- execution records, one partition per execution (``pk``/``sk``), a
  ``byWorkflow`` index (``gsi1pk``/``gsi1sk``) to list a workflow's executions, a ``byTenant``
  index (``gsi2pk``/``gsi2sk``) to list a run-API tenant's executions, and a TTL
  attribute (``expiresAt``) so records disappear after the retention period;
* ``PayloadBucket`` -- large block outputs, expired after the same retention period.

Both are retained when the stack is deleted, and their logical ids are fixed here: a
new logical id would make CloudFormation create a new, empty table or bucket (and, with
``RETAIN``, leave the old one behind). ``tests/infra`` freezes them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aws_cdk import CfnElement, CfnOutput, Duration, RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_s3 as s3
from constructs import Construct

__all__ = [
    "BUCKET_LOGICAL_ID",
    "GSI_NAME",
    "TENANT_GSI_NAME",
    "TABLE_LOGICAL_ID",
    "TTL_ATTRIBUTE",
    "DataSettings",
    "DataStack",
]

#: Never change these: a new logical id replaces the resource.
TABLE_LOGICAL_ID = "RecordsTable"
BUCKET_LOGICAL_ID = "PayloadBucket"
#: The table's key design, shared with the runtime that reads and writes it.
PARTITION_KEY = "pk"
SORT_KEY = "sk"
GSI_NAME = "byWorkflow"
GSI_PARTITION_KEY = "gsi1pk"
GSI_SORT_KEY = "gsi1sk"
#: A tenant's executions (run API), newest first: ``gsi2pk = TENANT#<tenant>``.
TENANT_GSI_NAME = "byTenant"
TENANT_GSI_PARTITION_KEY = "gsi2pk"
TENANT_GSI_SORT_KEY = "gsi2sk"
TTL_ATTRIBUTE = "expiresAt"
_STRING = dynamodb.AttributeType.STRING


@dataclass(frozen=True)
class DataSettings:
    stage: str
    #: Records (TTL, written by the recorder) and payload objects (lifecycle) live this long.
    retention_days: int


class DataStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: DataSettings,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("description", f"Stepweave data ({settings.stage}): execution records "
                                         "and large block outputs (retained on delete)")
        super().__init__(scope, construct_id, **kwargs)
        self.settings = settings
        self.table = dynamodb.Table(
            self,
            "Records",
            partition_key=dynamodb.Attribute(name=PARTITION_KEY, type=_STRING),
            sort_key=dynamodb.Attribute(name=SORT_KEY, type=_STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            time_to_live_attribute=TTL_ATTRIBUTE,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True),
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.table.add_global_secondary_index(
            index_name=GSI_NAME,
            partition_key=dynamodb.Attribute(name=GSI_PARTITION_KEY, type=_STRING),
            sort_key=dynamodb.Attribute(name=GSI_SORT_KEY, type=_STRING),
            projection_type=dynamodb.ProjectionType.ALL,
        )
        self.table.add_global_secondary_index(
            index_name=TENANT_GSI_NAME,
            partition_key=dynamodb.Attribute(name=TENANT_GSI_PARTITION_KEY, type=_STRING),
            sort_key=dynamodb.Attribute(name=TENANT_GSI_SORT_KEY, type=_STRING),
            projection_type=dynamodb.ProjectionType.ALL,
        )
        _fix_logical_id(self.table, TABLE_LOGICAL_ID)

        self.payload_bucket = s3.Bucket(
            self,
            "Payloads",
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            encryption=s3.BucketEncryption.S3_MANAGED,
            versioned=False,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="expire-after-retention",
                    expiration=Duration.days(settings.retention_days),
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                ),
            ],
            removal_policy=RemovalPolicy.RETAIN,
        )
        _fix_logical_id(self.payload_bucket, BUCKET_LOGICAL_ID)

        CfnOutput(self, "TableName", value=self.table.table_name,
                  description="DynamoDB table of execution records")
        CfnOutput(self, "PayloadBucketName", value=self.payload_bucket.bucket_name,
                  description="S3 bucket of large block outputs")


def _fix_logical_id(construct: Construct, logical_id: str) -> None:
    resource = construct.node.default_child
    assert isinstance(resource, CfnElement)
    resource.override_logical_id(logical_id)
