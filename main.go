// The CDK app: `npx cdk synth|diff|deploy` runs this program (see cdk.json). It declares the
// whole pipeline from the stacks in ./stacks, configured by cdk.json context.
package main

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"
)

func main() {
	defer jsii.Close()
	app := awscdk.NewApp(nil)
	// The stacks are added by stacks.NewPipeline as they are built.
	app.Synth(nil)
}
