import { type DynamoDBDocumentClient, GetCommand, PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { type Catalog, type CatalogDocument, compileCatalog } from '../../domain/catalog.js';
import { DEFAULT_CATALOG } from '../../domain/default-catalog.js';
import { GatewayError } from '../../domain/errors.js';
import type { CatalogStore, CatalogVersionInfo } from '../../ports.js';
import { ledgerKeys } from '../../tables.js';
import { conditionFailedAt, isConditionalCheckFailed, queryAll, transactWrite } from './client.js';

const versionIsNew = 'attribute_not_exists(pk)';
const MAX_PUBLISH_ATTEMPTS = 5;

/**
 * Catalog versions are immutable items; the ACTIVE item holds a copy of the active version's
 * document, so readers need one GetItem. Publish and rollback rewrite only the ACTIVE item.
 */
export class DynamoCatalogStore implements CatalogStore {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly tableName: string,
    private readonly now: () => Date = () => new Date(),
  ) {}

  async getActive(): Promise<Catalog> {
    const { Item } = await this.db.send(
      new GetCommand({ TableName: this.tableName, Key: ledgerKeys.catalogActive(), ConsistentRead: true }),
    );
    if (Item)
      return compileCatalog(Item.document as CatalogDocument, Number(Item.version), String(Item.publishedAt));
    await this.seedDefault();
    return this.getActive();
  }

  async listVersions(): Promise<{ active: number; versions: CatalogVersionInfo[] }> {
    const active = await this.getActive();
    const items = await queryAll(this.db, {
      TableName: this.tableName,
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
      ExpressionAttributeValues: { ':pk': 'CATALOG', ':prefix': 'VERSION#' },
      ProjectionExpression: 'version, publishedAt',
    });
    const versions = items.map((item) => ({
      version: Number(item.version),
      publishedAt: String(item.publishedAt),
    }));
    return { active: active.version, versions };
  }

  /** Publishes a validated document (see catalog-schema.ts) as the next version and activates it. */
  async publish(document: CatalogDocument): Promise<CatalogVersionInfo> {
    for (let attempt = 0; attempt < MAX_PUBLISH_ATTEMPTS; attempt++) {
      const version = (await this.latestVersion()) + 1;
      const publishedAt = this.now().toISOString();
      try {
        await transactWrite(this.db, [
          {
            Put: {
              TableName: this.tableName,
              Item: { ...ledgerKeys.catalogVersion(version), version, publishedAt, document },
              ConditionExpression: versionIsNew,
            },
          },
          {
            Put: {
              TableName: this.tableName,
              Item: { ...ledgerKeys.catalogActive(), version, publishedAt, document },
            },
          },
        ]);
        return { version, publishedAt };
      } catch (err) {
        if (!conditionFailedAt(err, 0)) throw err;
        // Another publisher took this version number; read the latest again.
      }
    }
    throw new GatewayError({
      status: 409,
      type: 'invalid_request_error',
      code: 'conflict',
      message: 'Concurrent catalog publishes; try again.',
    });
  }

  async rollback(version: number): Promise<CatalogVersionInfo> {
    const { Item } = await this.db.send(
      new GetCommand({
        TableName: this.tableName,
        Key: ledgerKeys.catalogVersion(version),
        ConsistentRead: true,
      }),
    );
    if (!Item) {
      throw new GatewayError({
        status: 404,
        type: 'invalid_request_error',
        code: 'not_found',
        param: 'version',
        message: `Catalog version ${version} does not exist.`,
      });
    }
    await this.db.send(
      new PutCommand({
        TableName: this.tableName,
        Item: {
          ...ledgerKeys.catalogActive(),
          version,
          publishedAt: Item.publishedAt,
          document: Item.document,
        },
      }),
    );
    return { version, publishedAt: String(Item.publishedAt) };
  }

  private async latestVersion(): Promise<number> {
    const { Items } = await this.db.send(
      new QueryCommand({
        TableName: this.tableName,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
        ExpressionAttributeValues: { ':pk': 'CATALOG', ':prefix': 'VERSION#' },
        ScanIndexForward: false,
        Limit: 1,
        ConsistentRead: true,
      }),
    );
    return Items?.[0] ? Number(Items[0].version) : 0;
  }

  /** Seeds version 1 once; a concurrent seeder's win is as good as ours. */
  private async seedDefault(): Promise<void> {
    const publishedAt = this.now().toISOString();
    const document = DEFAULT_CATALOG; // validated by the unit tests, not at run time
    try {
      await transactWrite(this.db, [
        {
          Put: {
            TableName: this.tableName,
            Item: { ...ledgerKeys.catalogVersion(1), version: 1, publishedAt, document },
            ConditionExpression: versionIsNew,
          },
        },
        {
          Put: {
            TableName: this.tableName,
            Item: { ...ledgerKeys.catalogActive(), version: 1, publishedAt, document },
            ConditionExpression: versionIsNew,
          },
        },
      ]);
    } catch (err) {
      if (!(conditionFailedAt(err, 0) || conditionFailedAt(err, 1) || isConditionalCheckFailed(err)))
        throw err;
    }
  }
}
