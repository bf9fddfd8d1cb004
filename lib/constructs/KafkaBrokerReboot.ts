import { ArnFormat, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import { Construct } from 'constructs';

export interface KafkaBrokerRebootProps {
  /** The MSK cluster whose brokers the document may reboot. */
  readonly clusterArn: string;
}

/** How long the document waits for the cluster to be ACTIVE again after the reboot. */
const RECOVERY_TIMEOUT_SECONDS = 1_800;

/**
 * FIS has no MSK action: this SSM Automation document reboots one broker of one cluster
 * (`kafka:RebootBroker`) and then waits until the cluster is ACTIVE again, so the experiment lasts as long
 * as the broker is away. It runs as its own role, which may do exactly that on exactly that cluster;
 * `aws:ssm:start-automation-execution` passes the role in `AutomationAssumeRole`.
 */
export class KafkaBrokerReboot extends Construct {
  public readonly document: ssm.CfnDocument;
  public readonly documentArn: string;
  /** The role the automation runs as. */
  public readonly automationRole: iam.Role;

  public constructor(scope: Construct, id: string, props: KafkaBrokerRebootProps) {
    super(scope, id);
    const stack = Stack.of(this);

    this.automationRole = new iam.Role(this, 'AutomationRole', {
      assumedBy: new iam.ServicePrincipal('ssm.amazonaws.com', {
        conditions: {
          StringEquals: { 'aws:SourceAccount': stack.account },
          ArnLike: {
            'aws:SourceArn': stack.formatArn({
              service: 'ssm',
              resource: 'automation-execution',
              resourceName: '*',
            }),
          },
        },
      }),
      description: 'Reboots one broker of the MSK cluster for a game day, and watches it recover',
    });
    this.automationRole.addToPolicy(
      new iam.PolicyStatement({
        actions: ['kafka:RebootBroker', 'kafka:DescribeCluster'],
        resources: [props.clusterArn],
      }),
    );

    this.document = new ssm.CfnDocument(this, 'Document', {
      documentType: 'Automation',
      documentFormat: 'JSON',
      updateMethod: 'NewVersion',
      content: {
        schemaVersion: '0.3',
        description: 'Reboots one MSK broker and waits until the cluster is ACTIVE again.',
        assumeRole: '{{ AutomationAssumeRole }}',
        parameters: {
          ClusterArn: { type: 'String', description: 'The MSK cluster', allowedValues: [props.clusterArn] },
          BrokerId: {
            type: 'String',
            description: 'The broker to reboot (MSK numbers brokers from 1)',
            allowedPattern: '^[1-9][0-9]{0,2}$',
          },
          AutomationAssumeRole: { type: 'String', description: 'The role the automation runs as' },
        },
        mainSteps: [
          {
            name: 'RebootBroker',
            action: 'aws:executeAwsApi',
            inputs: {
              Service: 'kafka',
              Api: 'RebootBroker',
              ClusterArn: '{{ ClusterArn }}',
              BrokerIds: ['{{ BrokerId }}'],
            },
          },
          {
            name: 'WaitUntilActive',
            action: 'aws:waitForAwsResourceProperty',
            timeoutSeconds: RECOVERY_TIMEOUT_SECONDS,
            inputs: {
              Service: 'kafka',
              Api: 'DescribeCluster',
              ClusterArn: '{{ ClusterArn }}',
              PropertySelector: '$.ClusterInfo.State',
              DesiredValues: ['ACTIVE'],
            },
          },
        ],
      },
    });
    this.documentArn = stack.formatArn({
      service: 'ssm',
      resource: 'document',
      resourceName: this.document.ref,
      arnFormat: ArnFormat.SLASH_RESOURCE_NAME,
    });
  }

  /** What `aws:ssm:start-automation-execution` needs to start, follow and stop this document as `grantee`. */
  public grantStart(grantee: iam.IGrantable): void {
    const stack = Stack.of(this);
    grantee.grantPrincipal.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['ssm:StartAutomationExecution'],
        resources: [
          stack.formatArn({
            service: 'ssm',
            resource: 'automation-definition',
            resourceName: `${this.document.ref}:*`,
          }),
        ],
      }),
    );
    grantee.grantPrincipal.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['ssm:GetAutomationExecution', 'ssm:StopAutomationExecution'],
        resources: [stack.formatArn({ service: 'ssm', resource: 'automation-execution', resourceName: '*' })],
      }),
    );
    grantee.grantPrincipal.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['iam:PassRole'],
        resources: [this.automationRole.roleArn],
        conditions: { StringEquals: { 'iam:PassedToService': 'ssm.amazonaws.com' } },
      }),
    );
  }
}
