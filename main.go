// The CDK app: `npx cdk synth|diff|deploy` runs this program (see cdk.json). It declares the
// whole pipeline from the stacks in ./stacks, configured by cdk.json context.
package main

import (
	"fmt"
	"os"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"

	"github.com/pinpipe/pinpipe/stacks"
)

func main() {
	app := awscdk.NewApp(nil)
	cfg, err := stacks.LoadConfig(app.Node())
	if err != nil {
		jsii.Close()
		fmt.Fprintln(os.Stderr, "pinpipe:", err)
		os.Exit(1)
	}
	stacks.NewPipeline(app, cfg)
	app.Synth(nil)
	jsii.Close()
}
