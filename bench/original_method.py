"""A faithful replica of the original cloud notebook's method, for the benchmark only.

It does what the original did, no better and no worse (issue: "Featurize once ... benchmark"):
features computed twice (PCA fit, then transform and write, nothing persisted), the model rebuilt
for every partition, `model.predict` on whole Arrow batches, a Python UDF to make ML vectors.
The only change: the weights come from a file instead of the ImageNet download, so that both
methods run on the same weights without internet.

    python bench/original_method.py INPUT_DIR OUTPUT_DIR WEIGHTS_FILE
"""

import sys

import numpy as np
import pandas as pd
from pyspark.ml.feature import PCA
from pyspark.ml.linalg import Vectors, VectorUDT
from pyspark.sql import SparkSession
from pyspark.sql.functions import col, element_at, pandas_udf, PandasUDFType, split, udf


def main(input_path, output_path, weights_file):
    spark = SparkSession.builder.appName("original-method").getOrCreate()
    sc = spark.sparkContext

    # 1. Load: binaryFile, *.jpg, recursive; label = second-to-last element of the path.
    images = (spark.read.format("binaryFile").option("pathGlobFilter", "*.jpg")
              .option("recursiveFileLookup", "true").load(input_path))
    images = images.withColumn("label", element_at(split(images["path"], "/"), -2))

    # 2. Driver: MobileNetV2 with top, a Model cut at layers[-2]; its weights broadcast.
    from keras.applications.mobilenet_v2 import MobileNetV2
    from keras.models import Model

    model = MobileNetV2(weights=None, include_top=True, input_shape=(224, 224, 3))
    model.load_weights(weights_file)
    new_model = Model(inputs=model.input, outputs=model.layers[-2].output)
    brodcast_weights = sc.broadcast(new_model.get_weights())

    def model_fn():
        """A fresh model for every partition, as the original did."""
        from keras.applications.mobilenet_v2 import MobileNetV2
        from keras.models import Model

        model = MobileNetV2(weights=None, include_top=True, input_shape=(224, 224, 3))
        for layer in model.layers:
            layer.trainable = False
        new_model = Model(inputs=model.input, outputs=model.layers[-2].output)
        new_model.set_weights(brodcast_weights.value)
        return new_model

    def preprocess(content):
        import io

        from keras.applications.mobilenet_v2 import preprocess_input
        from keras.utils import img_to_array
        from PIL import Image

        img = Image.open(io.BytesIO(content)).resize([224, 224])
        return preprocess_input(img_to_array(img))

    def featurize_series(model, content_series):
        input = np.stack(content_series.map(preprocess))
        preds = model.predict(input)
        output = [p.flatten() for p in preds]
        return pd.Series(output)

    # 3. SCALAR_ITER pandas UDF: model built at the start of every partition.
    @pandas_udf("array<float>", PandasUDFType.SCALAR_ITER)
    def featurize_udf(content_series_iter):
        model = model_fn()
        for content_series in content_series_iter:
            yield featurize_series(model, content_series)

    # 4. Repartition(24), features; nothing cached.
    features_df = images.repartition(24).select(col("path"), col("label"), featurize_udf("content").alias("features"))

    # 5. A Python UDF to ML vectors.
    list_to_vector_udf = udf(lambda l: Vectors.dense(l), VectorUDT())
    features_df = features_df.select(col("path"), col("label"), list_to_vector_udf(col("features")).alias("features"))

    # 6. PCA(k=20): fit (first featurization), then transform and write (second featurization).
    pca = PCA(k=20, inputCol="features", outputCol="pcaFeatures")
    pca_model = pca.fit(features_df)
    result = pca_model.transform(features_df).select("path", "label", "features", "pcaFeatures")
    result.write.mode("overwrite").parquet(f"{output_path}/results")

    # 7. pandas read-back, vectors unpacked, shapes printed, tab-separated CSV.
    df = pd.read_parquet(f"{output_path}/results", engine="pyarrow")
    df["file_name"] = df["path"].apply(lambda p: p.split("/")[-1])
    df["features"] = df["features"].apply(lambda v: v["values"])
    df["pcaFeatures"] = df["pcaFeatures"].apply(lambda v: v["values"])
    print(df["features"].iloc[0].shape, df["pcaFeatures"].iloc[0].shape)
    df[["file_name", "label", "pcaFeatures"]].to_csv(f"{output_path}/pca_features.csv", sep="\t", index=False)


if __name__ == "__main__":
    main(*sys.argv[1:4])
