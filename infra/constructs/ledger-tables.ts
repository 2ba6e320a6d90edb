import { RemovalPolicy } from 'aws-cdk-lib';
import { AttributeType, BillingMode, type ITable, ProjectionType, Table } from 'aws-cdk-lib/aws-dynamodb';
import { Construct } from 'constructs';
import { ENV } from '../../shared/config.js';
import { LEDGER_TABLE, REQUEST_LOG_TABLE, type TableDefinition } from '../../shared/tables.js';

/** A deployed table together with what a function needs to find and use it. */
export interface GatewayTable {
  readonly table: ITable;
  /** The shared definition it was built from: index names come from here, not from string literals. */
  readonly definition: TableDefinition;
  /** Environment variable through which a bound function finds the table. */
  readonly envName: string;
}

/** Both DynamoDB tables, built from the definitions the local runtime also uses. */
export class LedgerTables extends Construct {
  /** Money lives here: wallets, holds, keys, catalogs. Retained, protected and recoverable. */
  readonly ledger: GatewayTable;
  /** One item per request, expired by TTL. */
  readonly requestLog: GatewayTable;

  constructor(scope: Construct, id: string) {
    super(scope, id);
    this.ledger = {
      table: buildTable(this, LEDGER_TABLE),
      definition: LEDGER_TABLE,
      envName: ENV.ledgerTable,
    };
    this.requestLog = {
      table: buildTable(this, REQUEST_LOG_TABLE),
      definition: REQUEST_LOG_TABLE,
      envName: ENV.requestLogTable,
    };
  }
}

function buildTable(scope: Construct, definition: TableDefinition): Table {
  const table = new Table(scope, definition.id, {
    partitionKey: { name: definition.partitionKey.name, type: attributeType(definition.partitionKey.type) },
    sortKey: { name: definition.sortKey.name, type: attributeType(definition.sortKey.type) },
    // Traffic is bursty and small; on-demand costs nothing when idle and never throttles a paying request.
    billingMode: BillingMode.PAY_PER_REQUEST,
    timeToLiveAttribute: definition.timeToLiveAttribute,
    pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
    // Both tables are financial records (balances, holds, charges): neither a stack deletion nor a replacement
    // may take them away.
    deletionProtection: true,
    removalPolicy: RemovalPolicy.RETAIN,
  });
  for (const index of definition.globalSecondaryIndexes) {
    table.addGlobalSecondaryIndex({
      indexName: index.indexName,
      partitionKey: { name: index.partitionKey.name, type: attributeType(index.partitionKey.type) },
      sortKey: { name: index.sortKey.name, type: attributeType(index.sortKey.type) },
      projectionType: ProjectionType.ALL,
    });
  }
  return table;
}

function attributeType(type: 'S' | 'N'): AttributeType {
  return type === 'S' ? AttributeType.STRING : AttributeType.NUMBER;
}
