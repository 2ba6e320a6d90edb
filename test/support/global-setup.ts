import type { TestProject } from 'vitest/node';
import { startDynamoDbLocal } from '../../local/dynamodb-local.js';

declare module 'vitest' {
  export interface ProvidedContext {
    dynamodbEndpoint: string;
  }
}

/**
 * One DynamoDB Local (Amazon's emulator, Java 17+) for the whole run; every test file creates its
 * own tables under a unique prefix. A missing Java fails the run with what to install.
 */
export default async function setup(project: TestProject) {
  const existing = process.env.DYNAMODB_ENDPOINT;
  if (existing) {
    project.provide('dynamodbEndpoint', existing);
    return;
  }
  const dynamo = await startDynamoDbLocal();
  project.provide('dynamodbEndpoint', dynamo.endpoint);
  return async () => {
    await dynamo.stop();
  };
}
