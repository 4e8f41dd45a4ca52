package stacks

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigateway"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssecretsmanager"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/pinpipe/pinpipe/constructs/golambda"
	"github.com/pinpipe/pinpipe/constructs/schedule"
	"github.com/pinpipe/pinpipe/record"
)

// EmulatorSchedule is how often each emulator function runs; every run posts for
// EmulatorSeconds at EmulatorRate posts per second (about 8,600 posts a day per mode).
const (
	EmulatorSchedule = "rate(10 minutes)"
	EmulatorSeconds  = "60"
	EmulatorRate     = "1"
)

// EmulatorStackProps configures the emulator stack.
type EmulatorStackProps struct {
	awscdk.StackProps
	Config Config
	// InvokeUrl is the API's stage URL, Api the API and Stage its stage name.
	InvokeUrl *string
	Api       awsapigateway.IRestApi
	Stage     string
	// UsagePlan is the plan whose key the emulator uses (apiAuth=key; unused with iam).
	UsagePlan awsapigateway.IUsagePlan
}

// EmulatorStack posts source rows to the deployed API on a schedule: one function for the batch
// side (Kafka topics through the REST proxy) and one for the streaming side (Kinesis), both from
// lambda/emulator. With apiAuth=key their API key is generated in Secrets Manager and registered
// on the usage plan, so the key's value appears in no template and no environment variable; with
// apiAuth=iam they sign their requests (SigV4) as their role, which may invoke exactly the
// routes they post to.
type EmulatorStack struct {
	awscdk.Stack
	// ApiKeySecret and ApiKey exist with apiAuth=key only.
	ApiKeySecret awssecretsmanager.Secret
	ApiKey       awsapigateway.ApiKey
	// Functions and Schedules by mode ("batch", "stream").
	Functions map[string]*golambda.GoFunction
	Schedules map[string]*schedule.Schedule
}

// NewEmulatorStack declares the key, the functions and their schedules.
func NewEmulatorStack(scope constructs.Construct, id string, props *EmulatorStackProps) *EmulatorStack {
	if props == nil || props.InvokeUrl == nil || props.Api == nil || props.Stage == "" {
		panic("stacks.EmulatorStackProps: InvokeUrl, Api and Stage are required")
	}
	cfg := props.Config
	if cfg.ApiAuth == ApiAuthKey && props.UsagePlan == nil {
		panic("stacks.EmulatorStackProps.UsagePlan: required with apiAuth=key")
	}
	stack := awscdk.NewStack(scope, jsii.String(id), &props.StackProps)
	s := &EmulatorStack{Stack: stack, Functions: map[string]*golambda.GoFunction{}, Schedules: map[string]*schedule.Schedule{}}
	if cfg.ApiAuth == ApiAuthKey {
		s.apiKey(cfg, props.UsagePlan)
	}

	for _, m := range []struct{ mode, id string }{{"batch", "Batch"}, {"stream", "Stream"}} {
		mode := m.mode
		env := map[string]*string{
			"PINPIPE_INVOKE_URL": props.InvokeUrl,
			"PINPIPE_USER_ID":    jsii.String(cfg.UserID),
			"PINPIPE_MODE":       jsii.String(mode),
			"PINPIPE_RATE":       jsii.String(EmulatorRate),
			"PINPIPE_SECONDS":    jsii.String(EmulatorSeconds),
			"PINPIPE_SOURCE":     jsii.String("synthetic"),
		}
		if cfg.ApiAuth == ApiAuthIAM {
			env["PINPIPE_SIGV4"] = jsii.String("true")
		} else {
			env["PINPIPE_API_KEY_SECRET_ARN"] = s.ApiKeySecret.SecretArn()
		}
		fn := golambda.New(stack, "Emulate"+m.id, &golambda.Props{
			Entry:       "lambda/emulator",
			Description: "Posts synthetic source rows to the " + mode + " routes of " + cfg.Name("api"),
			Timeout:     awscdk.Duration_Seconds(jsii.Number(90)),
			// No reserved concurrency: a run (at most the 90 s timeout) ends long before the next
			// (every 10 minutes), and a reservation would fail to deploy in new accounts whose
			// concurrency quota is 10.
			Environment: env,
		})
		if cfg.ApiAuth == ApiAuthIAM {
			// Exactly the routes this mode posts to: one per record kind.
			routes := make([]*string, 0, len(record.Kinds))
			for _, route := range EmulatorRoutes(cfg.UserID, mode) {
				routes = append(routes, props.Api.ArnForExecuteApi(jsii.String(route.Method), jsii.String(route.Path), jsii.String(props.Stage)))
			}
			fn.Role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
				Actions:   jsii.Strings("execute-api:Invoke"),
				Resources: &routes,
			}))
		} else {
			s.ApiKeySecret.GrantRead(fn.Role, nil)
		}
		s.Functions[mode] = fn
		s.Schedules[mode] = schedule.New(stack, "Every"+m.id, &schedule.Props{
			Expression:  EmulatorSchedule,
			Description: "Runs the pinpipe emulator (" + mode + " mode)",
			Function:    fn.Function,
		})
	}
	return s
}

// apiKey generates the emulator's API key in Secrets Manager and registers it on the plan.
func (s *EmulatorStack) apiKey(cfg Config, plan awsapigateway.IUsagePlan) {
	stack := s.Stack
	s.ApiKeySecret = awssecretsmanager.NewSecret(stack, jsii.String("ApiKeySecret"), &awssecretsmanager.SecretProps{
		Description: jsii.String("API key of the pinpipe emulator for " + cfg.Name("api")),
		GenerateSecretString: &awssecretsmanager.SecretStringGenerator{
			SecretStringTemplate: jsii.String(`{}`),
			GenerateStringKey:    jsii.String("apiKey"),
			ExcludePunctuation:   jsii.Bool(true),
			PasswordLength:       jsii.Number(40),
		},
		RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
	})
	nagSuppress(s.ApiKeySecret, "AwsSolutions-SMG4",
		"rotating it would also need the API Gateway key value replaced; re-deploying the stack with a new secret does both")
	s.ApiKey = awsapigateway.NewApiKey(stack, jsii.String("ApiKey"), &awsapigateway.ApiKeyProps{
		ApiKeyName:  jsii.String(cfg.Name("emulator-key")),
		Description: jsii.String("The posting emulator's key; its value is the apiKey field of the secret"),
		// A dynamic reference: CloudFormation reads the value at deploy time; it is never in the template.
		Value: s.ApiKeySecret.SecretValueFromJson(jsii.String("apiKey")).UnsafeUnwrap(),
	})
	// Declared here, not with UsagePlan.AddApiKey (which would put it in the ingestion stack and
	// make the two stacks depend on each other).
	awsapigateway.NewCfnUsagePlanKey(stack, jsii.String("UsagePlanKey"), &awsapigateway.CfnUsagePlanKeyProps{
		KeyId:       s.ApiKey.KeyId(),
		KeyType:     jsii.String("API_KEY"),
		UsagePlanId: plan.UsagePlanId(),
	})
}

// Route is one API route: its HTTP method and resource path.
type Route struct{ Method, Path string }

// EmulatorRoutes are the routes the emulator posts to in mode (lambda/emulator sends one record
// per request): POST /topics/<userId>.<kind>, or PUT /streams/streaming-<userId>-<kind>/record.
func EmulatorRoutes(userID, mode string) []Route {
	out := make([]Route, 0, len(record.Kinds))
	for _, k := range record.Kinds {
		if mode == "batch" {
			out = append(out, Route{"POST", "/topics/" + record.Topic(userID, k)})
		} else {
			out = append(out, Route{"PUT", "/streams/" + record.Stream(userID, k) + "/record"})
		}
	}
	return out
}
