// Tests of the shaping of a run's dataset and model inputs.
import { describe, expect, it } from "vitest";
import { datasetRows, modelRefs, schemaColumns } from "./inputs";

const inputs = {
  dataset_inputs: [
    {
      dataset: {
        digest: "05c7a414",
        name: "demo-train",
        profile: '{"features_shape": [100, 4], "features_size": 400}',
        schema:
          '{"mlflow_tensorspec": {"features": "[{\\"type\\": \\"tensor\\", \\"tensor-spec\\": {\\"dtype\\": \\"float64\\", \\"shape\\": [-1, 4]}}]", "targets": null}}',
        source: '{"uri": "s3://bucket/train.npy"}',
        source_type: "s3",
      },
      tags: [{ key: "mlflow.data.context", value: "training" }],
    },
    {
      dataset: {
        digest: "c0ccfdad",
        name: "demo-eval",
        profile: '{"num_rows": 3}',
        schema: '{"mlflow_colspec": [{"type": "long", "name": "a", "required": true}, {"type": "string", "name": "b", "required": false}]}',
        source: "not json",
        source_type: "local",
      },
      tags: [{ key: "split", value: "v2" }],
    },
  ],
};

describe("datasetRows", () => {
  it("decodes source, schema, profile and context", () => {
    const [train, evalSet] = datasetRows(inputs);
    expect(train.name).toBe("demo-train");
    expect(train.source).toBe("s3://bucket/train.npy");
    expect(train.context).toBe("training");
    expect(train.columns).toEqual([["features", "float64[-1, 4]"]]);
    expect(train.profile).toEqual([
      ["features_shape", "[100,4]"],
      ["features_size", "400"],
    ]);
    expect(evalSet.source).toBe("not json");
    expect(evalSet.context).toBe("");
    expect(evalSet.columns).toEqual([
      ["a", "long"],
      ["b", "string?"],
    ]);
    expect(evalSet.tags).toEqual([["split", "v2"]]);
  });

  it("accepts missing or odd inputs", () => {
    expect(datasetRows(undefined)).toEqual([]);
    expect(datasetRows({ dataset_inputs: [null, 3] })).toEqual([]);
    expect(schemaColumns("text")).toEqual([]);
  });
});

describe("modelRefs", () => {
  it("lists model ids with their steps", () => {
    expect(modelRefs({ model_outputs: [{ model_id: "m-1", step: 0 }, { model_id: "m-2" }] }, "model_outputs")).toEqual([
      { modelId: "m-1", step: 0 },
      { modelId: "m-2", step: null },
    ]);
    expect(modelRefs({}, "model_inputs")).toEqual([]);
  });
});
